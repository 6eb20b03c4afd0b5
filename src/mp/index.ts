export {
  addBoundary,
  assertBoundaryName,
  type BoundaryView,
  deleteBoundary,
  listBoundaries,
} from './boundaries.js';
export { clientKey, clientPolicy, placeClient, registerClient, reportClientStatus } from './clients.js';
export {
  assertDeploymentId,
  type CreateDeploymentInput,
  createDeployment,
  DEFAULT_TIMEOUT_MS,
  type DeploymentView,
  deleteDeployment,
  listDeployments,
} from './deployments.js';
export { acceptPolicy, policyPackage, pushPolicies, snapshotFor } from './policy.js';
export { formatRange, mostSpecific, overlaps, parseAddress, parseRange } from './ranges.js';
export { type ClientReport, type DeploymentSummary, summarizeDeployments } from './summary.js';
