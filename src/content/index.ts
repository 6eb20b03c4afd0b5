export { assertPackagePath } from './paths.js';
export { MAX_CHUNK, chunkFile, findCut } from './chunker.js';
export { type ContentStore, FileContentStore, assertSha256 } from './store.js';
export { type ManifestFile, importSource, materialize, chunksOf } from './manifest.js';
