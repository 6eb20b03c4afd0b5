export { assertSiteCode, assertSiteType, parseDpName } from './codes.js';
export {
  type AddSiteInput,
  type AddSiteResult,
  acceptHeartbeat,
  acceptJoin,
  addSite,
  DEFAULT_JOIN_DEADLINE_MS,
  findPeer,
  isCodeFree,
  type JoinAnswer,
  type JoinRequest,
  sendHeartbeat,
  watchChildren,
} from './hierman.js';
export { assertListen, DEFAULT_LISTEN, type InstalledSite, initCentral, joinSite } from './install.js';
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
