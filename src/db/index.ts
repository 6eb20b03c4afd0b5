export { type DatabaseConfig, openDatabase, type SiteDb } from './connect.js';
export { dropDp, dropSiteContent, forgetSite, type RemovedRows, totalRemoved } from './forget.js';
export type * from './schema.js';
export { SITE_STATES, SITE_TYPES } from './schema.js';
