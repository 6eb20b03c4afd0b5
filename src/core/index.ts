export {
  DEFAULT_SETTINGS,
  runLoop,
  type ServerSettings,
  type SiteContext,
  Wake,
  type WakeTopic,
} from './context.js';
export { createMetrics, type Metrics } from './metrics.js';
export { TransferRegistry } from './transfers.js';
