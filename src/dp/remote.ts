import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import { Agent, request } from 'undici';
import { errorFromResponse, OutpostError } from '../errors/index.js';
import { assertUrl } from '../sites/index.js';

/** What a DP says of itself at its base URL (`GET /dp`, `GET /dps/NAME`). */
export const DpIdentity = Type.Object({
  dp: Type.String({ minLength: 3, maxLength: 64 }),
  site: Type.String({ minLength: 3, maxLength: 3 }),
});
export type DpIdentity = Static<typeof DpIdentity>;

/** Another site's DP, reached over HTTP as its clients reach it: its base URL and its name. */
export interface RemoteDp {
  url: string;
  dp: string;
}

/** What a DP answered to a range of a file: the bytes, or that it has no such file or another version. */
export type RangeAnswer =
  | { state: 'served'; body: AsyncIterable<Uint8Array> }
  | { state: 'absent' }
  | { state: 'other version' };

const agent = new Agent({
  keepAliveTimeout: 30_000,
  connections: 4,
  connectTimeout: 5_000,
  headersTimeout: 60_000,
  bodyTimeout: 120_000,
});

function cause(err: unknown): string {
  const e = err as Error & { code?: string };
  return e.code ?? e.message;
}

/**
 * Opens the DP at `rawUrl` (a site's `/dp`, or `/dps/NAME` for a named DP): asks it who it is, so a
 * URL that cannot be reached or is not an Outpost DP is refused before any work starts.
 */
export async function openRemoteDp(rawUrl: string): Promise<RemoteDp> {
  const url = assertUrl(rawUrl, '--from-dp');
  const hint =
    'give a DP base URL: http://HOST:PORT/dp for a site, or http://HOST:PORT/dps/NAME for a named DP';
  let status: number;
  let text: string;
  try {
    const res = await request(url, { dispatcher: agent, headers: { accept: 'application/json' } });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    throw new OutpostError('OUTPOST_SOURCE_UNREADABLE', `cannot reach the DP at ${url}: ${cause(err)}`, {
      hint,
    });
  }
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: not a DP, said below
  }
  if (status === 200 && Value.Check(DpIdentity, body)) return { url, dp: body.dp };
  const said = status >= 400 ? `: ${errorFromResponse(status, text, url).message}` : '';
  throw new OutpostError(
    'OUTPOST_SOURCE_UNREADABLE',
    `${url} is not an Outpost DP (it answered HTTP ${status}${said})`,
    { hint },
  );
}

/**
 * Bytes `start`..`end` (inclusive) of package `pkg`'s file `path` from the DP, only if the version
 * it serves is the one whose SHA-256 is `sha256` (If-Match on its strong ETag). A failure to reach
 * it, or an answer no DP gives, is OUTPOST_UNREACHABLE; `signal` aborts the request and its body.
 */
export async function readDpRange(
  dp: RemoteDp,
  file: { pkg: string; path: string; sha256: string },
  start: number,
  end: number,
  signal: AbortSignal,
): Promise<RangeAnswer> {
  const url = `${dp.url}/${file.pkg}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      dispatcher: agent,
      signal,
      headers: { range: `bytes=${start}-${end}`, 'if-match': `"${file.sha256}"` },
    });
  } catch (err) {
    throw new OutpostError('OUTPOST_UNREACHABLE', `cannot reach ${url}: ${cause(err)}`, { cause: err });
  }
  if (res.statusCode === 206 && String(res.headers['content-range']).startsWith(`bytes ${start}-${end}/`))
    return { state: 'served', body: res.body };
  const text = await res.body.text().catch(() => '');
  if (res.statusCode === 404) return { state: 'absent' };
  if (res.statusCode === 412) return { state: 'other version' };
  if (res.statusCode === 206)
    throw new OutpostError(
      'OUTPOST_UNREACHABLE',
      `${url} answered bytes ${res.headers['content-range']}, not ${start}-${end}`,
    );
  throw res.statusCode >= 400
    ? errorFromResponse(res.statusCode, text, url)
    : new OutpostError('OUTPOST_UNREACHABLE', `${url} answered HTTP ${res.statusCode} to a range request`);
}
