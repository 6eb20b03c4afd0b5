export { assignPackage, listDps, redistributePackage, unassignPackage } from './assign.js';
export { acceptAssignments, acceptBlock, acceptOffer, parseBlockList, TRANSFER_BLOCK } from './despooler.js';
export { reconcile } from './distmgr.js';
export { collectGarbage } from './gc.js';
export { JobSender } from './sender.js';
export { parseSchedule } from './throttle.js';
