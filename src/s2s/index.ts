export { type Sender, s2sJson, s2sPutBlock } from './client.js';
export {
  generateSiteKeys,
  HEADER,
  type KnownPeer,
  loadSiteKeys,
  NonceCache,
  type SiteKeys,
  sha256Hex,
  signRequest,
  verifyRequest,
} from './signing.js';
