export * from './model.js';
export {
  countPackageStatus,
  foldPackageStatusCounts,
  listMessages,
  listPackageStatus,
  type MessageFilter,
  type PackageStatusFilter,
} from './queries.js';
export { acceptReports, forwardReports } from './statmgr.js';
export {
  acknowledgeReports,
  pendingReports,
  postMessage,
  type ReportSink,
  recordClient,
  reportDp,
  reportPurge,
  reportSite,
  setDeploymentStatus,
  setInstallPending,
  setPackageStatus,
  setPackageStatuses,
} from './store.js';
