export { assertSiteCode, assertSiteType, parseDpName } from './codes.js';
export { type SiteView, type SitePhase, listSites, showSite, getSiteRow, recordPhase, nextHop, siteRecordOf } from './records.js';
export {
  type AddSiteInput,
  type AddSiteResult,
  type JoinRequest,
  type JoinAnswer,
  addSite,
  acceptJoin,
  acceptHeartbeat,
  watchChildren,
  sendHeartbeat,
  findPeer,
  isCodeFree,
  DEFAULT_JOIN_DEADLINE_MS,
} from './hierman.js';
export { type InstalledSite, initCentral, joinSite, assertListen, DEFAULT_LISTEN } from './install.js';
