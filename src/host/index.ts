export {
  type AuditResult,
  auditHost,
  describeLeft,
  type Leftover,
  type PurgeResult,
  purgeHost,
} from './audit.js';
export {
  createAdminToken,
  createDataDir,
  type DataPaths,
  databaseConfigOf,
  dataPaths,
  readAdminToken,
  readSiteConfig,
  type SiteConfig,
  writeSiteConfig,
} from './datadir.js';
export {
  type Footprint,
  type FootprintItem,
  installLocations,
  readFootprint,
  recordFootprint,
} from './footprint.js';
export { DEFAULT_LISTEN, formatListen, type ListenAddress, parseListen } from './listen.js';
