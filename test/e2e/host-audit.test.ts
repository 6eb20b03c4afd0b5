import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, TWO_LEVELS } from '../../src/demo/index.js';
import type { Leftover } from '../../src/host/index.js';
import { cli, tempDir } from './helpers.js';

/**
 * `host audit` without `--data` on a host where a server of the code runs from a folder that is not
 * where an install puts it: the audit names that server (pid, data directory, listen address) and
 * never calls the host clean while it runs; purge leaves it, being another folder's server.
 */
describe('host audit finds a running server of the code wherever its data directory is', () => {
  const base = tempDir('e2e-audit');
  const root = join(base, 'host-root');
  let h: Hierarchy;

  beforeAll(async () => {
    // Not root/var/lib/outpost/CODE, where host audit looks for an install's files.
    h = await startHierarchy(join(root, 'srv', 'outpost-sites'), TWO_LEVELS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('reports the server, not clean; after it stops, clean', async () => {
    const s02 = h.sites.S02;
    const pid = s02.process.child.pid;
    const listen = new URL(s02.url).host;

    const text = await cli(['host', 'audit', '--code', 'S02', '--root', root]);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).not.toContain('clean');
    expect(text.stdout).toContain(`pid ${pid}`);
    expect(text.stdout).toContain(s02.dataDir);
    expect(text.stdout).toContain(listen);

    const json = await cli(['host', 'audit', '--code', 'S02', '--root', root, '--json']);
    expect(json.code, json.stderr).toBe(1);
    const audit = JSON.parse(json.stdout) as { clean: boolean; leftovers: Leftover[] };
    expect(audit.clean).toBe(false);
    expect(audit.leftovers).toEqual([
      expect.objectContaining({ kind: 'process', pid, dataDir: s02.dataDir, listen: [listen] }),
    ]);

    // Purge without --data is about the install in the default folder: it stops no other folder's server.
    const purge = await cli(['host', 'purge', '--code', 'S02', '--root', root, '--yes']);
    expect(purge.code, purge.stderr).toBe(1);
    expect(purge.stdout).toContain(`left process pid ${pid}`);
    expect((await fetch(`${s02.url}/healthz`)).ok).toBe(true);

    await s02.process.stop();
    const clean = await cli(['host', 'audit', '--code', 'S02', '--root', root]);
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.stdout).toBe('host is clean of S02\n');
  }, 60_000);
});
