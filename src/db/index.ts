export { openDatabase, type DatabaseConfig, type SiteDb } from './connect.js';
export type * from './schema.js';
