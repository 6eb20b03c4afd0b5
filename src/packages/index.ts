export { assertPackageId } from '../common/index.js';
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
export { formatPackageId } from './ids.js';
