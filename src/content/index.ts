export { chunkFile, findCut, MAX_CHUNK } from './chunker.js';
export { chunksOf, importSource, type ManifestFile } from './manifest.js';
export { assertPackagePath } from './paths.js';
export { assertSha256, type ContentStore, FileContentStore } from './store.js';
