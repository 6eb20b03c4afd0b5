export { AdminClient, type ServerOptions } from './client.js';
export { MpClient } from './mp.js';
export { rebuildApi } from './rebuilds.js';
