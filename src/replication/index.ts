export { assignPackage, listDps, redistributePackage, unassignPackage } from './assign.js';
export { acceptAssignments, acceptBlock, acceptOffer, parseBlockList, TRANSFER_BLOCK } from './despooler.js';
export { collectGarbage, reconcile } from './distmgr.js';
export { JobSender } from './sender.js';
export { parseSchedule } from './throttle.js';
