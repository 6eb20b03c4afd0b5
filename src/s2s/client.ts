import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { Clock } from '../common/index.js';
import { errorFromResponse, OutpostError } from '../errors/index.js';
import {
  type BlockChunk,
  encodeBlockList,
  encodePatchHeader,
  HEADER,
  NDJSON,
  type PatchHeader,
  parseBlockList,
  S2S,
  type S2SPath,
} from './protocol.js';
import { type SiteKeys, sha256Hex, signRequest } from './signing.js';

/** Who is sending: this site's identity and keys. */
export interface Sender {
  site: string;
  generation: string;
  keys: SiteKeys;
  clock: Clock;
}

const agent = new Agent({
  keepAliveTimeout: 30_000,
  connections: 16,
  connectTimeout: 5_000,
  headersTimeout: 60_000,
  bodyTimeout: 120_000,
});

async function errorFrom(statusCode: number, body: { text(): Promise<string> }, url: string) {
  return errorFromResponse(statusCode, await body.text().catch(() => ''), url);
}

function unreachable(url: string, err: unknown): OutpostError {
  if (err instanceof OutpostError) return err;
  const e = err as Error & { code?: string };
  if (e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED')
    return new OutpostError('OUTPOST_UNREACHABLE', `request to ${url} was aborted`, { cause: err });
  return new OutpostError('OUTPOST_UNREACHABLE', `cannot reach ${url}: ${e.code ?? e.message}`, {
    cause: err,
  });
}

/** Sends a signed JSON request to another site and returns its JSON answer. */
export async function s2sJson<T>(
  from: Sender | null,
  baseUrl: string,
  method: 'GET' | 'POST',
  path: S2SPath,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const url = new URL(path, baseUrl).toString();
  const payload = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (from)
    Object.assign(
      headers,
      signRequest(from.keys, from, { method, path, bodySha: sha256Hex(payload) }, from.clock.now()),
    );
  try {
    const res = await request(url, {
      method,
      headers,
      body: body === undefined ? undefined : payload,
      dispatcher: agent,
      signal,
    });
    if (res.statusCode >= 400) throw await errorFrom(res.statusCode, res.body, url);
    return (await res.body.json()) as T;
  } catch (err) {
    throw unreachable(url, err);
  }
}

/**
 * Uploads one transfer block: chunks back to back, listed in the chunk list header. The signature
 * covers that list; the receiver checks every chunk against its listed hash.
 */
export async function s2sPutBlock(
  from: Sender,
  baseUrl: string,
  list: readonly BlockChunk[],
  body: Readable,
  signal: AbortSignal,
): Promise<{ stored: string[]; rejected: { sha: string; reason: string }[] }> {
  const path = S2S.blocks;
  const url = new URL(path, baseUrl).toString();
  const chunkList = encodeBlockList(list);
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': String(list.reduce((sum, c) => sum + c.size, 0)),
    [HEADER.chunks]: chunkList,
    ...signRequest(from.keys, from, { method: 'PUT', path, bodySha: sha256Hex(chunkList) }, from.clock.now()),
  };
  try {
    const res = await request(url, { method: 'PUT', headers, body, dispatcher: agent, signal });
    if (res.statusCode >= 400) throw await errorFrom(res.statusCode, res.body, url);
    return (await res.body.json()) as { stored: string[]; rejected: { sha: string; reason: string }[] };
  } catch (err) {
    throw unreachable(url, err);
  }
}

/**
 * Sends one chunk as a delta against chunks the child holds (see {@link S2S}.patches). The
 * signature covers the patch header; the child checks the chunk it rebuilds against its hash.
 * `stored: false` says the child could not use it (a basis it no longer holds, a rebuilt chunk that
 * did not match): the chunk is then sent whole.
 */
export async function s2sPutPatch(
  from: Sender,
  baseUrl: string,
  patch: PatchHeader,
  body: Readable,
  bytes: number,
  signal: AbortSignal,
): Promise<{ stored: boolean; reason?: string }> {
  const path = S2S.patches;
  const url = new URL(path, baseUrl).toString();
  const header = encodePatchHeader(patch);
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': String(bytes),
    [HEADER.patch]: header,
    ...signRequest(from.keys, from, { method: 'PUT', path, bodySha: sha256Hex(header) }, from.clock.now()),
  };
  try {
    const res = await request(url, { method: 'PUT', headers, body, dispatcher: agent, signal });
    if (res.statusCode >= 400) throw await errorFrom(res.statusCode, res.body, url);
    return (await res.body.json()) as { stored: boolean; reason?: string };
  } catch (err) {
    throw unreachable(url, err);
  }
}

/** A body streamed to another site: its bytes, produced again for each reading, and their hash and length. */
export interface SignedStream {
  sha256: string;
  bytes: number;
  content: AsyncIterable<Uint8Array>;
}

/**
 * Posts a signed NDJSON stream to another site and returns its answer as it arrives. The hash and
 * length are declared up front, so the receiver can check the signature before reading the body
 * and the body as it streams. A failure while the answer arrives is thrown as the site being
 * unreachable, like a failure before it.
 */
export async function s2sPostStream(
  from: Sender,
  baseUrl: string,
  path: S2SPath,
  body: SignedStream,
  signal: AbortSignal,
): Promise<AsyncIterable<Uint8Array>> {
  const url = new URL(path, baseUrl).toString();
  const headers = {
    'content-type': NDJSON,
    'content-length': String(body.bytes),
    ...signRequest(from.keys, from, { method: 'POST', path, bodySha: body.sha256 }, from.clock.now()),
  };
  const res = await request(url, {
    method: 'POST',
    headers,
    body: Readable.from(body.content),
    dispatcher: agent,
    signal,
  }).catch((err: unknown) => {
    throw unreachable(url, err);
  });
  if (res.statusCode >= 400) throw await errorFrom(res.statusCode, res.body, url);
  return (async function* answer() {
    try {
      yield* res.body;
    } catch (err) {
      throw unreachable(url, err);
    }
  })();
}

/**
 * Asks the parent for chunks of a package (see {@link S2S}.chunks): the chunks it gave, each with
 * its bytes, as the block it answered with. The caller checks every chunk against its hash.
 */
export async function s2sFetchChunks(
  from: Sender,
  baseUrl: string,
  body: { package: string; chunks: string[] },
  signal?: AbortSignal,
): Promise<{ sha: string; data: Buffer }[]> {
  const path = S2S.chunks;
  const url = new URL(path, baseUrl).toString();
  const payload = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    ...signRequest(from.keys, from, { method: 'POST', path, bodySha: sha256Hex(payload) }, from.clock.now()),
  };
  try {
    const res = await request(url, { method: 'POST', headers, body: payload, dispatcher: agent, signal });
    if (res.statusCode >= 400) throw await errorFrom(res.statusCode, res.body, url);
    const header = String(res.headers[HEADER.chunks] ?? '');
    // An empty list: the parent could give none of them.
    const list = header ? parseBlockList(header) : [];
    const total = list.reduce((sum, c) => sum + c.size, 0);
    const data = Buffer.from(await res.body.arrayBuffer());
    if (data.length !== total)
      throw new OutpostError('OUTPOST_UNREACHABLE', `${url} answered ${data.length} bytes, not ${total}`);
    let at = 0;
    return list.map((c) => {
      const piece = data.subarray(at, at + c.size);
      at += c.size;
      return { sha: c.sha, data: piece };
    });
  } catch (err) {
    throw unreachable(url, err);
  }
}
