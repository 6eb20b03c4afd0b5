import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPOST_BIN, waitFor } from '../../src/demo/index.js';
import { cli, tempDir } from './helpers.js';

/** Pids of the processes whose command line names `dir`: the demo's servers, while they run. */
function processesUsing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** `outpost demo ARGS` as a running process, with its output so far. */
function startDemo(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [OUTPOST_BIN, 'demo', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** A demo run moves 48 MiB through three servers: on a loaded machine it can take over a minute. */
const DEMO_TIMEOUT = 180_000;

describe('outpost demo', () => {
  it(
    '--once stands up C01 → P01 → S02, gets the package Installed and stops, printing no command for the stopped servers',
    async () => {
      const dir = tempDir('e2e-demo');
      const r = await cli(['demo', '--once', '--dir', dir]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/package (C01[0-9A-F]{5}) 'Demo App' created at C01/);
      expect(r.stdout).toMatch(/C01[0-9A-F]{5} {2}v1 {2}DP S02 +Installed/);
      // The loop closes at a client in S02's branch, and C01 sees its report.
      expect(r.stdout).toMatch(
        /client: registered at S02's management point as [0-9a-f]{16} \(127\.0\.0\.1, boundary s02-branch\)/,
      );
      expect(r.stdout).toMatch(
        /client: downloaded 5 file\(s\) of C01[0-9A-F]{5} from S02, each verified by SHA-256/,
      );
      expect(r.stdout).toContain("client: ran 'sh install.sh': exit 0");
      expect(r.stdout).toMatch(/deployment C01D[0-9A-F]{5} as C01 sees it: S02 1 succeeded, 0 failed/);
      expect(
        readFileSync(
          join(
            dir,
            'client',
            'packages',
            /package (C01[0-9A-F]{5})/.exec(r.stdout)?.[1] ?? '',
            '1',
            'installed.txt',
          ),
          'utf8',
        ),
      ).toBe('Demo App installed\n');
      expect(r.stdout).toContain('Run without --once to download it');
      expect(r.stdout).not.toContain('curl');
      expect(r.stdout).not.toContain('outpost status');
      const url = /S02 serving at (\S+)/.exec(r.stdout)?.[1];
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(r.stdout).toContain('all three sites stopped');
      // Stopped means stopped: the DP no longer answers.
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      // A folder the administrator named is kept.
      expect(r.stdout).toContain(`data directories and logs kept in ${dir}`);
      expect(readdirSync(dir).sort()).toEqual(['C01', 'P01', 'S02', 'client', 'source']);
    },
    DEMO_TIMEOUT,
  );

  it(
    '--json keeps stdout to one JSON summary, the narrative on stderr; its own temporary folder is removed',
    async () => {
      const tmp = tempDir('e2e-demo-tmp');
      const r = await cli(['demo', '--once', '--json'], { TMPDIR: tmp });
      expect(r.code, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout) as {
        dataDir: string;
        package: string;
        sites: { code: string }[];
        status: { dp: string; state: string }[];
        download: string;
        deployment: { deployment: string; site: string; succeeded: number; failed: number };
      };
      expect(summary.deployment).toMatchObject({ site: 'S02', succeeded: 1, failed: 0 });
      expect(summary.sites.map((s) => s.code)).toEqual(['C01', 'P01', 'S02']);
      expect(summary.status).toContainEqual(expect.objectContaining({ dp: 'S02', state: 'Installed' }));
      expect(summary.download).toContain(`/dp/${summary.package}/setup.bin`);
      expect(r.stderr).toContain('all three sites stopped');
      expect(summary.dataDir.startsWith(tmp)).toBe(true);
      expect(r.stderr).toContain(`removed ${summary.dataDir}`);
      expect(readdirSync(tmp)).toEqual([]);
    },
    DEMO_TIMEOUT,
  );

  it(
    '--keep keeps its temporary folder, logs included, and says where it is',
    async () => {
      const tmp = tempDir('e2e-demo-keep');
      const r = await cli(['demo', '--once', '--keep'], { TMPDIR: tmp });
      expect(r.code, r.stderr).toBe(0);
      const [made] = readdirSync(tmp);
      expect(made).toMatch(/^outpost-demo-/);
      expect(r.stdout).toContain(`data directories and logs kept in ${join(tmp, made)}`);
      expect(readdirSync(join(tmp, made)).sort()).toEqual(['C01', 'P01', 'S02', 'client', 'source']);
      expect(readFileSync(join(tmp, made, 'C01', 'logs', 'sender.log'), 'utf8')).toContain('job completed');
      expect(processesUsing(tmp)).toEqual([]);
    },
    DEMO_TIMEOUT,
  );

  it(
    'Ctrl-C while the sites are up stops them and removes the temporary folder',
    async () => {
      const tmp = tempDir('e2e-demo-sigint');
      const demo = startDemo([], { TMPDIR: tmp });
      await waitFor('the demo to wait for Ctrl-C', 120_000, async () =>
        demo.stdout().includes('press Ctrl-C'),
      );
      const url = /S02 serving at (\S+)/.exec(demo.stdout())?.[1];
      expect(demo.stdout()).toContain('curl -o setup.bin');
      // The web console at C01, with the token printed to log in with.
      const [, consoleUrl, token] =
        /web console at (\S+) and log in with C01's admin token:\n\s+(\S+)/.exec(demo.stdout()) ?? [];
      expect((await fetch(consoleUrl)).headers.get('content-type')).toContain('text/html');
      const site = await fetch(`${consoleUrl}api/v1/site`, { headers: { authorization: `Bearer ${token}` } });
      expect(site.status).toBe(200);
      demo.child.kill('SIGINT');
      expect(await demo.exited, demo.stderr()).toBe(0);
      expect(demo.stdout()).toContain('all three sites stopped');
      expect(demo.stdout()).toMatch(/removed \S+outpost-demo-/);
      expect(readdirSync(tmp)).toEqual([]);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      expect(processesUsing(tmp)).toEqual([]);
    },
    DEMO_TIMEOUT,
  );

  it(
    'Ctrl-C while the sites are starting stops those started, removes the folder and exits 130',
    async () => {
      const tmp = tempDir('e2e-demo-sigint-start');
      const demo = startDemo(['--once'], { TMPDIR: tmp });
      await waitFor('the demo to start C01', 30_000, async () => demo.stdout().includes('starting C01'));
      demo.child.kill('SIGINT');
      expect(await demo.exited, demo.stderr()).toBe(130);
      expect(demo.stdout()).toContain('interrupted: the sites started are stopped');
      expect(demo.stderr()).toBe('');
      expect(readdirSync(tmp)).toEqual([]);
      expect(processesUsing(tmp)).toEqual([]);
    },
    DEMO_TIMEOUT,
  );
});
