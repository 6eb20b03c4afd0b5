export {
  createPackage,
  getPackageRow,
  heldVersion,
  type ImportView,
  importProgress,
  importsInProgress,
  listPackages,
  manifestHeader,
  manifestPages,
  OfferStaging,
  olderThanHeld,
  type PackageView,
  showPackage,
  type UpdateView,
  updatePackage,
} from './catalog.js';
export { assertPackageId, formatPackageId } from './ids.js';
