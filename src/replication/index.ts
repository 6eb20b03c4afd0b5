export {
  type AddressChanges,
  type AddressSetting,
  type AddressView,
  holdLink,
  listAddresses,
  updateAddress,
} from './addresses.js';
export { assignPackage, listDps, redistributePackage, unassignPackage } from './assign.js';
export { type CloneResult, cloneDp, packageSizes } from './clone.js';
export { acceptAssignments, acceptBlock } from './despooler.js';
export { DistmgrRounds, type RoundScope, reconcile } from './distmgr.js';
export { type ExportedFile, exportPackages } from './export.js';
export { listNotInstalled, type NotInstalled } from './followup.js';
export { collectGauges } from './gauges.js';
export { collectGarbage } from './gc.js';
export { knownManifests, type LibraryProgress, libraryProgress } from './library.js';
export { acceptOffer } from './offer.js';
export { acceptPatch } from './patch.js';
export { type PreloadSummary, preloadContent } from './preload.js';
export { JobSender } from './sender.js';
export {
  type ChunkProblem,
  giveChunks,
  type PackageCheck,
  type RepairedChunk,
  type VerifyResult,
  verifyContent,
} from './verify.js';
export { type LinkNow, type ListedJob, listJobsWithReasons, waitingReason } from './waiting.js';
