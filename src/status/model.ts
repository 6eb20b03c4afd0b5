/**
 * Status travels up the hierarchy as it is kept, so its types are those of the wire protocol,
 * whose schemas check every report a child sends.
 */
export {
  PACKAGE_STATES,
  type PackageState,
  type PackageStatus,
  type Report,
  type Severity,
  type SiteRecord,
  type StatusMessage,
} from '../s2s/index.js';
