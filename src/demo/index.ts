export {
  type Hierarchy,
  type HierarchySite,
  type SiteSpec,
  startHierarchy,
  THREE_LEVELS,
  TWO_LEVELS,
} from './hierarchy.js';
export { freePort, OUTPOST_BIN, type SiteProcess, spawnSite, waitFor } from './processes.js';
export { runDemo } from './run.js';
