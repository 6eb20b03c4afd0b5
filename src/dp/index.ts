export { installOnDp, removeFromDp, installedVersion, versionDir } from './install.js';
export { dpRoutes } from './serve.js';
