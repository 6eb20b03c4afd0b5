export { parseDuration, formatDuration } from './duration.js';
export { writeFileAtomic, fsyncDir } from './files.js';
export { type Clock, systemClock, sleep } from './clock.js';
