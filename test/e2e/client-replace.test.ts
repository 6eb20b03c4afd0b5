import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/apiclient/index.js';
import { type AgentEvent, ClientAgent } from '../../src/client/index.js';
import {
  type Hierarchy,
  OUTPOST_BIN,
  spawnSite,
  startHierarchy,
  TWO_LEVELS,
  waitFor,
} from '../../src/demo/index.js';
import type { DeploymentSummary, DeploymentView } from '../../src/mp/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { ReplaceSiteResult } from '../../src/sites/index.js';
import { cli, tempDir, waitForPackageState } from './helpers.js';

describe('a running client agent across a site replaced on new hardware', () => {
  const base = tempDir('e2e-client-replace');
  let h: Hierarchy;
  let pkg: PackageView;
  let agent: ChildProcess | null = null;
  const events: AgentEvent[] = [];
  const seen: AgentEvent[] = [];
  const data = join(base, 'client');
  const folder = () => join(data, 'packages', pkg.id, String(pkg.sourceVersion));
  const ran = () => readFileSync(join(folder(), 'ran.txt'), 'utf8').trim().split('\n');

  async function deploy(command: string, timeout?: string): Promise<string> {
    const d = await h.sites.C01.admin.post<DeploymentView>('/deployments', {
      package: pkg.id,
      command,
      sites: ['S02'],
      ...(timeout ? { timeout } : {}),
    });
    return d.id;
  }

  /** Waits until C01 holds the client's report `state` for `deployment`. */
  function reportAtC01(deployment: string, state: string) {
    return waitFor(`${deployment} ${state} at C01`, 90_000, async () => {
      const rows = await h.sites.C01.admin.get<DeploymentSummary[]>('/status/deployments');
      return rows.find((r) => r.deployment === deployment)?.clients.find((c) => c.state === state);
    });
  }

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    const { C01 } = h.sites;
    const source = join(base, 'app');
    mkdirSync(source);
    writeFileSync(join(source, 'setup.sh'), 'echo "$OUTPOST_DEPLOYMENT" >> ran.txt\n');
    pkg = await C01.admin.post<PackageView>('/packages', { name: 'App', source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await C01.admin.post('/boundaries', { site: 'S02', range: '127.0.2.0/24', name: 's02' });
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');
  }, 120_000);
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await h?.stop();
  });

  it('runs a deployment, then after site replace registers again by itself and runs one made after', async () => {
    const { C01, S02 } = h.sites;
    const first = await deploy('sh setup.sh');
    agent = spawn(
      process.execPath,
      [
        OUTPOST_BIN,
        'client',
        'run',
        '--mp',
        S02.url,
        '--data',
        data,
        '--bind',
        '127.0.2.31',
        '--interval',
        '1s',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    agent.stdout?.setEncoding('utf8');
    let buffered = '';
    agent.stdout?.on('data', (s: string) => {
      buffered += s;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line) events.push(JSON.parse(line) as AgentEvent);
    });
    const report = await reportAtC01(first, 'succeeded');
    expect(report.exitCode).toBe(0);
    expect(ran()).toEqual([first]);
    // A second agent in this process, polled by hand: it holds its registration across the replace.
    const inProcess = await ClientAgent.open(
      { mp: S02.url, dataDir: join(base, 'in-process'), bind: '127.0.2.32' },
      (e) => seen.push(e),
    );
    const signal = new AbortController().signal;
    expect((await inProcess.poll(signal)).deployments).toMatchObject([
      { deployment: first, state: 'succeeded' },
    ]);

    const replaced = await cli(['site', 'replace', 'S02', '--json', '--data', C01.dataDir]);
    expect(replaced.code, replaced.stderr).toBe(0);
    const { joinToken, url } = JSON.parse(replaced.stdout) as ReplaceSiteResult;
    // The new hardware takes over the site's URL: clients keep their --mp.
    expect(url).toBe(S02.url);
    await S02.process.stop();
    const newDir = join(base, 'S02-new');
    const joined = await cli(['site', 'join', '--data', newDir, '--parent', C01.url, '--token', joinToken]);
    expect(joined.code, joined.stderr).toBe(0);
    const process2 = await spawnSite(newDir, S02.url, ['--heartbeat', '1s']);
    h.sites.S02 = {
      ...S02,
      dataDir: newDir,
      process: process2,
      admin: await AdminClient.from({ data: newDir }),
    };
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');

    const second = await deploy('sh setup.sh');
    const again = await reportAtC01(second, 'succeeded');
    expect(again.exitCode).toBe(0);
    // The new S02 learnt the client again; the first deployment was not run again.
    expect(ran()).toEqual([first, second]);
    const registered = events.filter((e) => e.event === 'registered');
    expect(registered.length).toBeGreaterThanOrEqual(2);

    // The in-process agent asks the new S02 for its policy with its old registration: refused as not
    // registered, it registers again by itself (same id) and gets the deployment made after.
    const summary = await waitFor('the in-process agent ran the second deployment', 30_000, async () => {
      const s = await inProcess.poll(signal);
      return s.deployments.some((d) => d.deployment === second && d.state === 'succeeded') ? s : undefined;
    });
    expect(summary.client).toBe(inProcess.id);
    expect(seen.map((e) => e.event)).toContain('not-registered');
    expect(seen.filter((e) => e.event === 'registered')).toHaveLength(2);
    await inProcess.close();
  }, 180_000);

  it('a program past its timeout is killed and reported failed; a stop kills the running program’s group', async () => {
    const slow = await deploy('sleep 30', '1s');
    const failed = await reportAtC01(slow, 'failed');
    expect(failed.exitCode).toBeNull();
    expect(failed.output).toContain('killed after the timeout of 1000 ms');

    await deploy('echo $$ > sleeper.pid; sleep 60');
    const pidFile = join(folder(), 'sleeper.pid');
    await waitFor(
      'the long program running',
      60_000,
      async () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '',
    );
    const group = Number(readFileSync(pidFile, 'utf8'));
    const exited = new Promise<number | null>((resolve) => agent?.on('exit', (code) => resolve(code)));
    agent?.kill('SIGTERM');
    expect(await exited).toBe(0);
    agent = null;
    const alive = () => {
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor('the program group gone', 10_000, async () => !alive());
    expect(ran()).toHaveLength(2);
  }, 120_000);
});
