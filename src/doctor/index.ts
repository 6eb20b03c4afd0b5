export { runDoctor } from './doctor.js';
export { answerIdentity } from './links.js';
export {
  type DoctorCheck,
  type DoctorCheckName,
  type DoctorResult,
  type OpenJob,
  PEER_CALL_MS,
  SKEW_WARN_MS,
  stuckJobs,
  type Verdict,
} from './model.js';
