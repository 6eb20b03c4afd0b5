export { installedVersion, installOnDp, removeFromDp, versionDir } from './install.js';
export { dpRoutes } from './serve.js';
