import { Agent, request } from 'undici';
import { errorFromResponse, OutpostError } from '../errors/index.js';
import {
  clientIdOf,
  loadSiteKeys,
  MP,
  type MpPath,
  type Placement,
  type Policy,
  type SiteKeys,
  type StatusBody,
  signClientRequest,
  type Unassigned,
} from '../s2s/index.js';

/**
 * A client's side of the management point protocol (docs/MP-PROTOCOL.md): every request signed with
 * the client's own Ed25519 key, sent from `bind` (a local source address) when given.
 */
export class MpClient {
  readonly id: string;
  private readonly keys: SiteKeys;
  private readonly agent: Agent;
  private readonly now: () => number;

  constructor(
    readonly mpUrl: string,
    privateKeyPem: string,
    options: { bind?: string; clock?: { now(): number } } = {},
  ) {
    this.keys = loadSiteKeys(privateKeyPem);
    this.id = clientIdOf(this.keys.publicKeyPem);
    this.agent = new Agent(options.bind ? { localAddress: options.bind } : {});
    this.now = () => (options.clock ?? Date).now();
  }

  private async call<T>(method: 'GET' | 'POST', path: MpPath, body?: unknown): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const url = new URL(path, this.mpUrl).toString();
    const headers = {
      ...signClientRequest(this.keys, this.id, { method, path, body: text }, this.now()),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        headers,
        body: body === undefined ? undefined : text,
        dispatcher: this.agent,
      });
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new OutpostError(
        'OUTPOST_UNREACHABLE',
        `cannot reach the management point at ${url}: ${e.code ?? e.message}`,
      );
    }
    const answer = await res.body.text();
    if (res.statusCode >= 400) throw errorFromResponse(res.statusCode, answer, url);
    return JSON.parse(answer) as T;
  }

  /** Registers this client's key at the MP (again: the same key keeps the same id). */
  register(name?: string): Promise<Placement | Unassigned> {
    return this.call('POST', MP.register, { publicKey: this.keys.publicKeyPem, ...(name ? { name } : {}) });
  }

  /** The deployments for this client, or why it has none here. */
  policy(): Promise<Policy | Unassigned> {
    return this.call('GET', MP.policy);
  }

  /** Reports where a deployment stands on this client. */
  report(status: StatusBody): Promise<{ deployment: string; state: string; at: number }> {
    return this.call('POST', MP.status, status);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
