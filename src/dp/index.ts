export { installedVersion, installOnDp, removeFromDp } from './install.js';
export { type ServedFile, servedFile } from './serve.js';
