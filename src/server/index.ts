export { type RunningSite, startSite } from './serve.js';
