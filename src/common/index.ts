export { type Clock, sleep, systemClock } from './clock.js';
export { formatDuration, parseDuration } from './duration.js';
export { fsyncDir, isAtomicTemporary, writeFileAtomic } from './files.js';
export { formatBytes, parseSize } from './size.js';
