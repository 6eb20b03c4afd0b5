export {
  FRAMES,
  REBUILD_PATHS,
  type RebuildOptions,
  type RebuildPath,
  type RebuildPlan,
  type RebuildRequest,
  type RebuildView,
  type StepKey,
  type StepView,
} from './model.js';
export {
  abortRebuild,
  advanceRebuilds,
  checkRebuild,
  planOf,
  type RebuildCheck,
  rebuildStatus,
  resumeRebuild,
  startRebuild,
} from './runbook.js';
