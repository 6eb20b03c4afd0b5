/**
 * Status travels up the hierarchy as it is kept, so its types are those of the wire protocol,
 * whose schemas check every report a child sends.
 */
import type { ReportedMessage } from '../s2s/index.js';

export {
  type ClientRecord,
  type DeploymentStatus,
  type DpRecord,
  PACKAGE_STATES,
  type PackageState,
  type PackageStatus,
  type Report,
  type ReportedMessage,
  SEVERITIES,
  type Severity,
  type SiteRecord,
} from '../s2s/index.js';

/** An event from a component, as scripts see it (`status messages --json`). */
export type StatusMessage = Omit<ReportedMessage, 'subject'> & {
  /** The site the message is about when that is not `site`, the site that reported it. */
  subject: string | null;
};
