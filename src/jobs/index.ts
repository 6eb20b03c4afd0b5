export {
  assertJobState,
  collectJobMetrics,
  type Job,
  type JobView,
  jobView,
  listJobs,
  OPEN_STATES,
} from './jobs.js';
export {
  cancelJobs,
  claimJob,
  completeJob,
  createJob,
  deleteJobs,
  failJob,
  holdsJob,
  progressJob,
  reclaimExpired,
} from './lifecycle.js';
export { removeJobs } from './removal.js';
