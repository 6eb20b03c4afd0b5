export { installedVersion, installOnDp, removeFromDp } from './install.js';
export { dpRoutes } from './serve.js';
