export {
  type AgentEvent,
  type AgentOptions,
  ClientAgent,
  type DeploymentOutcome,
  type PollSummary,
} from './agent.js';
export { MpClient } from './mp.js';
