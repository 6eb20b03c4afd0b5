export { assertPackageId, formatPackageId } from './ids.js';
export {
  type PackageView,
  type PackageManifest,
  createPackage,
  updatePackage,
  getPackageRow,
  manifestFiles,
  packageManifest,
  showPackage,
  listPackages,
  storeOfferedManifest,
} from './catalog.js';
