export { type Clock, sleep, systemClock } from './clock.js';
export { formatDuration, parseDuration } from './duration.js';
export { fsyncPath, isAtomicTemporary, writeFileAtomic } from './files.js';
export { type Limiter, limitConcurrency } from './limit.js';
export { splitLines } from './lines.js';
export {
  assertClientId,
  assertDpName,
  assertPackageId,
  assertSiteCode,
  isClientId,
  isSiteCode,
  parseDpName,
  SEVERITIES,
  type Severity,
} from './names.js';
export { assertIdPrefix, oneMatch } from './prefix.js';
export { formatBytes, parseSize } from './size.js';
