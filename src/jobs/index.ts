export {
  assertJobState,
  cancelJobs,
  claimJob,
  createJob,
  deleteJobs,
  type JobView,
  jobView,
  listJobs,
  OPEN_STATES,
  reclaimExpired,
} from './jobs.js';
