export { adminRoutes } from './admin.js';
export { consoleRoutes } from './console.js';
export { dpRoutes } from './dp.js';
export { installErrorHandling } from './errors.js';
export { connectionLimits, cutStalledBodies } from './limits.js';
export { managementPointRoutes } from './mp.js';
export { registerOpenApi } from './openapi.js';
export { opsRoutes } from './ops.js';
export { s2sRoutes } from './s2s.js';
