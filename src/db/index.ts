export { type DatabaseConfig, openDatabase, type SiteDb } from './connect.js';
export type * from './schema.js';
