import { request } from 'undici';
import { errorFromResponse, OutpostError } from '../errors/index.js';
import { readAdminToken, readSiteConfig } from '../host/index.js';

export interface ServerOptions {
  server?: string;
  token?: string;
  data?: string;
}

/** A small typed client for the admin API. */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** Finds the server and token from --server/--token, the environment, or a local data directory. */
  static async from(opts: ServerOptions): Promise<AdminClient> {
    let server = opts.server ?? process.env.OUTPOST_SERVER;
    let token = opts.token ?? process.env.OUTPOST_TOKEN;
    if (opts.data) {
      const config = await readSiteConfig(opts.data);
      server ??= config.url;
      token ??= await readAdminToken(opts.data);
    }
    if (!server)
      throw new OutpostError('OUTPOST_BAD_INPUT', 'no server given', {
        hint: 'pass --server URL, set OUTPOST_SERVER, or use --data DIR',
      });
    if (!token)
      throw new OutpostError('OUTPOST_BAD_INPUT', 'no admin token given', {
        hint: 'pass --token, set OUTPOST_TOKEN, or use --data DIR',
      });
    return new AdminClient(server.replace(/\/$/, ''), token);
  }

  async call<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    query?: Record<string, string | number | boolean | undefined>,
  ): Promise<T> {
    const url = new URL(`/api/v1${path}`, this.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        // No connection is kept idle: the server closes idle ones after a few seconds, and a POST
        // sent on one it has just closed fails without a retry (a busy CLI or test would see
        // "other side closed"). A new loopback or LAN connection per admin call costs little.
        reset: true,
      });
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new OutpostError(
        'OUTPOST_UNREACHABLE',
        `cannot reach the site server at ${this.baseUrl}: ${e.code ?? e.message}`,
        {
          hint: 'is outpost serve running there?',
        },
      );
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) throw errorFromResponse(res.statusCode, text, url.toString());
    try {
      return (text ? JSON.parse(text) : null) as T;
    } catch {
      throw new OutpostError(
        'OUTPOST_UNREACHABLE',
        `${url} answered HTTP ${res.statusCode} with something that is not JSON`,
      );
    }
  }

  get<T>(path: string, query?: Record<string, string | number | boolean | undefined>): Promise<T> {
    return this.call<T>('GET', path, undefined, query);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }
}
