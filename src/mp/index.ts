export { addBoundary, type BoundaryView, deleteBoundary, listBoundaries } from './boundaries.js';
export {
  type ClientDeploymentReport,
  type ClientDetail,
  type ClientView,
  listClients,
  showClient,
} from './clientlist.js';
export { clientKey, clientPolicy, registerClient, reportClientStatus } from './clients.js';
export {
  assertDeploymentId,
  createDeployment,
  type DeploymentView,
  deleteDeployment,
  listDeployments,
} from './deployments.js';
export { acceptPolicy, policyPackage, pushPolicies, snapshotFor } from './policy.js';
export { type ClientReport, type DeploymentSummary, summarizeDeployments } from './summary.js';
