export { AdminClient, type ServerOptions } from './client.js';
