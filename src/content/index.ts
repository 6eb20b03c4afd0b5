export { chunkFile, findCut, MAX_CHUNK } from './chunker.js';
export { applyDelta, DELTA_BLOCK, encodeDelta, signatureOf } from './delta.js';
export { type ImportProgress, importSource, type ManifestFile } from './manifest.js';
export {
  distinctChunks,
  indexPackageFile,
  PACKAGE_FILE_FORMAT,
  PACKAGE_FILE_SUFFIX,
  type PackageFileManifest,
  PackageFileRefused,
  type PackedChunk,
  packageFileName,
  writePackageFile,
} from './packagefile.js';
export { parseIndex as parsePackIndex } from './packs.js';
export { assertPackagePath } from './paths.js';
export type { ChunkReader } from './reader.js';
export { assertSha256, type ChunkData, type ContentStore, FileContentStore } from './store.js';
export { type ChunkAt, type ChunkBytes, hashPool, type Verified, VerifyPool } from './verify.js';
