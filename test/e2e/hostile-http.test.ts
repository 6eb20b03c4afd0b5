import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, spawnSite, startHierarchy, TWO_LEVELS } from '../../src/demo/index.js';
import { loadSiteKeys, sha256Hex, signRequest } from '../../src/s2s/index.js';
import type { StatusMessage } from '../../src/status/index.js';
import { identityOf, metric, tempDir } from './helpers.js';

// Short limits, so a test sees a connection cut in a second or two instead of a minute.
const SERVE_ARGS = [
  '--heartbeat',
  '1s',
  '--headers-timeout',
  '1s',
  '--body-timeout',
  '1s',
  '--keep-alive',
  '1s',
];
const MiB = 1024 * 1024;

/**
 * Opens a connection to `url`, writes `head` (then whatever `then` writes) and collects what
 * comes back until the server closes the connection. A server that waits for more never resolves
 * it, and the test times out.
 */
function exchange(url: string, head: string, then?: (socket: Socket) => void): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let got = '';
    const socket = connect(Number(port), hostname, () => {
      socket.write(head);
      then?.(socket);
    });
    socket.on('data', (d: Buffer) => {
      got += d.toString();
    });
    // A reset after the answer is a close too.
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
  });
}

/** The resident memory of a process, in bytes. */
function rssOf(pid: number | undefined): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]) * 1024;
}

describe('hostile HTTP: refuse before reading, bound every connection, count the refusals', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-hostile-http');

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS, SERVE_ARGS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** A request head signed as S02 would sign it, declaring `body`. */
  function signedHead(path: string, body: string): string {
    const from = identityOf(h.sites.S02.dataDir);
    const headers = signRequest(
      loadSiteKeys(from.privateKeyPem),
      from,
      { method: 'POST', path, bodySha: sha256Hex(body) },
      Date.now(),
    );
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
    return [
      `POST ${path} HTTP/1.1`,
      'host: outpost',
      'content-type: application/json',
      `content-length: ${Buffer.byteLength(body)}`,
      ...lines,
      '',
      '',
    ].join('\r\n');
  }

  it('an unsigned request announcing 64 MiB is answered 401 before its body is sent; memory stays flat', async () => {
    const c01 = h.sites.C01;
    const head = [
      'POST /s2s/v1/reports HTTP/1.1',
      'host: outpost',
      'content-type: application/json',
      `content-length: ${64 * MiB}`,
      '',
      '',
    ].join('\r\n');
    const before = rssOf(c01.process.child.pid);
    const answers = await Promise.all(Array.from({ length: 12 }, () => exchange(c01.url, head)));
    const after = rssOf(c01.process.child.pid);
    for (const answer of answers) {
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
      expect(answer.toLowerCase()).toContain('connection: close');
      expect(answer).toContain('"code":"OUTPOST_BAD_SIGNATURE"');
    }
    // 12 buffered bodies would be 768 MiB; a generous bound for everything else the server does.
    expect(after - before).toBeLessThan(64 * MiB);
  });

  it('a connection that sends half its request head, or nothing, is cut', async () => {
    const half = await exchange(
      h.sites.C01.url,
      'POST /s2s/v1/heartbeat HTTP/1.1\r\nhost: outpost\r\ncontent-ty',
    );
    expect(half).not.toMatch(/^HTTP\/1\.1 [23]/);
    const silent = await exchange(h.sites.C01.url, '');
    expect(silent).not.toMatch(/^HTTP\/1\.1 [23]/);
  });

  it('an idle kept-alive connection is closed', async () => {
    const answer = await exchange(h.sites.C01.url, 'GET /healthz HTTP/1.1\r\nhost: outpost\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.toLowerCase()).toContain('connection: keep-alive');
  });

  it('a signed body that stops arriving is cut; one that arrives slowly but keeps moving is not', async () => {
    const body = JSON.stringify({ reports: [] });
    const stalled = await exchange(h.sites.C01.url, signedHead('/s2s/v1/reports', body), (socket) => {
      socket.write(body.slice(0, 5));
    });
    expect(stalled).toBe('');
    // One byte every 250 ms: 3.5 s in all, longer than the body timeout, but never idle for long.
    const slow = await exchange(h.sites.C01.url, signedHead('/s2s/v1/reports', body), (socket) => {
      let sent = 0;
      const timer = setInterval(() => {
        socket.write(body[sent++]);
        if (sent === body.length) clearInterval(timer);
      }, 250);
    });
    expect(slow).toMatch(/^HTTP\/1\.1 200 /);
    expect(slow).toContain('{"applied":0,"dropped":0}');
  });

  it('a burst of unsigned requests is counted, each one, and reported in one status message', async () => {
    const c01 = h.sites.C01;
    const burst = 300;
    const send = async () => {
      const res = await fetch(`${c01.url}/s2s/v1/heartbeat`, {
        method: 'POST',
        headers: { 'x-outpost-site': 'S02' },
      });
      await res.arrayBuffer();
      return res.status;
    };
    // Ten at a time: on a loaded machine, hundreds of connections at once could wait longer than
    // this server's one-second headers timeout before it even reads them.
    const statuses: number[] = [];
    while (statuses.length < burst) statuses.push(...(await Promise.all(Array.from({ length: 10 }, send))));
    expect(statuses.filter((s) => s !== 401)).toEqual([]);
    const rejected = 'outpost_s2s_rejected_total';
    expect(await metric(c01.url, rejected, { reason: 'no-signature', peer: 'S02' })).toBe(burst);
    const reports = async () =>
      (await c01.admin.get<StatusMessage[]>('/status/messages', { component: 'hierman' })).filter((m) =>
        m.text.startsWith('rejected '),
      );
    // Not one message each: the tally is reported when its minute is over, or when the server stops.
    expect(await reports()).toEqual([]);
    await c01.process.stop();
    c01.process = await spawnSite(c01.dataDir, c01.url, SERVE_ARGS);
    const text = `rejected ${burst} requests from 127.0.0.1 claiming S02 in the last minute: no signature`;
    expect((await reports()).filter((m) => m.text === text)).toHaveLength(1);
    expect((await reports()).filter((m) => m.text.includes('claiming S02'))).toHaveLength(1);
  });
});
