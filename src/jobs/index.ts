export {
  assertJobState,
  collectJobMetrics,
  JOB_STATES,
  type Job,
  type JobView,
  jobView,
  listJobs,
  OPEN_STATES,
} from './jobs.js';
export { Leadership } from './leaders.js';
export {
  cancelJobs,
  claimJob,
  claimNext,
  completeJob,
  createJob,
  createJobs,
  deleteJobs,
  failJob,
  holdsJob,
  type NewJob,
  progressJob,
  reclaimExpired,
  retryJobsNow,
} from './lifecycle.js';
export {
  type LeaseOwner,
  localProcessAlive,
  newLeaseOwner,
  registerOwner,
  renewOwner,
  retireOwner,
  takeBackLeases,
} from './owners.js';
export { removeJobs } from './removal.js';
