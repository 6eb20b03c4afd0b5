import { request } from 'undici';
import { PEER_CALL_MS } from './model.js';

/** What a probed URL answered. */
export interface Probe {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One HTTP request of a check, bounded by {@link PEER_CALL_MS}; a request that fails or runs out
 * of time is thrown as an Error saying so.
 */
export async function probe(
  url: string,
  init: { method: 'GET' | 'HEAD' | 'POST'; headers?: Record<string, string>; body?: string },
): Promise<Probe> {
  const signal = AbortSignal.timeout(PEER_CALL_MS);
  try {
    const res = await request(url, { ...init, signal });
    const text = init.method === 'HEAD' ? '' : await res.body.text();
    if (init.method === 'HEAD') await res.body.dump();
    return { status: res.statusCode, headers: res.headers, text };
  } catch (err) {
    if (signal.aborted) throw new Error(`${url} did not answer within ${PEER_CALL_MS / 1000}s`);
    const e = err as Error & { code?: string };
    throw new Error(`cannot reach ${url}: ${e.code ?? e.message}`);
  }
}

/** The error code of an Outpost error body, if `text` is one. */
export function errorCodeOf(text: string): string | null {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown } } | null;
    return typeof parsed?.error?.code === 'string' ? parsed.error.code : null;
  } catch {
    return null;
  }
}
