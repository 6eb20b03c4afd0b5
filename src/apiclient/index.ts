export { AdminClient, type ServerOptions } from './client.js';
export { rebuildApi } from './rebuilds.js';
