export { type AddressChanges, type AddressView, listAddresses, updateAddress } from './addresses.js';
export { assignPackage, listDps, redistributePackage, unassignPackage } from './assign.js';
export { acceptAssignments, acceptBlock, acceptOffer } from './despooler.js';
export { reconcile } from './distmgr.js';
export { collectGarbage } from './gc.js';
export { JobSender } from './sender.js';
