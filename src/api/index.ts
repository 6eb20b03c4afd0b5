export { adminRoutes } from './admin.js';
export { installErrorHandling } from './errors.js';
export { s2sRoutes } from './s2s.js';
