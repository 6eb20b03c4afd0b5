export { installedVersion, installOnDp, removeFromDp } from './install.js';
export { addDp, assertDpKnown, dpBaseUrl, namedDpPath, removeDp } from './named.js';
export { DpIdentity, openRemoteDp, type RangeAnswer, type RemoteDp, readDpRange } from './remote.js';
export { type ServedFile, servedFile } from './serve.js';
