export { type SiteKeys, type KnownPeer, NonceCache, generateSiteKeys, loadSiteKeys, sha256Hex, signRequest, verifyRequest, HEADER } from './signing.js';
export { type Sender, s2sJson, s2sPutChunk } from './client.js';
