export { assertDpName, assertSiteCode, isSiteCode, parseDpName } from '../common/index.js';
export { assertSiteType, isJoinToken, parseJoinToken } from './codes.js';
export {
  type AddSiteInput,
  type AddSiteResult,
  addSite,
  assertUrl,
  DEFAULT_ADDRESS,
  DEFAULT_JOIN_DEADLINE_MS,
  findPeer,
  isCodeFree,
  registrationOf,
  sendHeartbeat,
} from './hierman.js';
export { assertListen, type InstalledSite, initCentral } from './install.js';
export { type JoinOptions, joinSite } from './join.js';
export {
  acceptEarlyPhase,
  acceptHeartbeat,
  acceptJoin,
  acceptLatePhase,
  checkJoin,
  INSTALL_PHASES,
  type InstallPhase,
  type JoinAnswer,
  type JoinCheck,
  probeJoiningSite,
  reportInstallProgress,
  watchChildren,
} from './phases.js';
export {
  DEFAULT_RESERVE_BYTES,
  type PreflightCheck,
  type PreflightResult,
  runPreflight,
} from './preflight.js';
export {
  getSiteRow,
  listSites,
  nextHop,
  recordPhase,
  type SitePhase,
  type SiteView,
  showSite,
  siteRecordOf,
} from './records.js';
export {
  type DeleteSummary,
  deinstallChildren,
  deleteSite,
  type PurgeSummary,
  purgeSite,
} from './removal.js';
export {
  assertNoChildSites,
  cancelReplace,
  type ReplaceSiteResult,
  replaceSite,
} from './replace.js';
export { type Backlog, type SiteSummary, summarizeSites } from './summary.js';
