export * from './model.js';
export { type ReportSink, postMessage, setPackageStatus, reportSite, applyReports, pendingReports, acknowledgeReports } from './store.js';
export { listMessages, listPackageStatus, rollup, type MessageFilter, type PackageStatusFilter } from './queries.js';
export { forwardReports } from './statmgr.js';
