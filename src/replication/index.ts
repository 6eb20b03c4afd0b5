export { reconcile, collectGarbage } from './distmgr.js';
export { JobSender, TransferRegistry } from './sender.js';
export { acceptOffer, acceptChunk, acceptAssignments } from './despooler.js';
export { assignPackage, unassignPackage, listDps } from './assign.js';
export { type JobView, listJobs, assertJobState, cancelJobs, OPEN_STATES } from './jobs.js';
export { parseSchedule } from './throttle.js';
