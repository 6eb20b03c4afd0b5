import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { Clock } from '../common/index.js';
import { errorFromResponse, OutpostError } from '../errors/index.js';
import { type BlockChunk, encodeBlockList, HEADER, S2S, type S2SPath } from './protocol.js';
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
