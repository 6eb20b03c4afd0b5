export {
  createPackage,
  getPackageRow,
  type ImportView,
  importProgress,
  importsInProgress,
  listPackages,
  manifestFiles,
  type PackageView,
  packageManifest,
  showPackage,
  storeOfferedManifest,
  updatePackage,
} from './catalog.js';
export { assertPackageId, formatPackageId } from './ids.js';
