export { chunkFile, findCut, MAX_CHUNK } from './chunker.js';
export { chunksOf, type ImportProgress, importSource, type ManifestFile } from './manifest.js';
export { assertPackagePath } from './paths.js';
export { assertSha256, type ContentStore, FileContentStore } from './store.js';
