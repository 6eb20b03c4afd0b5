import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cli, tempDir } from './helpers.js';

describe('outpost demo', () => {
  it('--once stands up C01 → P01 → S02, gets the package Installed, prints a download command and stops', async () => {
    const dir = tempDir('e2e-demo');
    const r = await cli(['demo', '--once', '--dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/package (C01[0-9A-F]{5}) 'Demo App' created at C01/);
    expect(r.stdout).toMatch(/C01[0-9A-F]{5} {2}v1 {2}DP S02 +Installed/);
    const url = /curl -o setup.bin (\S+)/.exec(r.stdout)?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dp\/C01[0-9A-F]{5}\/setup.bin$/);
    expect(r.stdout).toContain('all three sites stopped');
    // Stopped means stopped: the DP no longer answers.
    await expect(fetch(url ?? '')).rejects.toThrow();
    // A folder the administrator named is kept.
    expect(readdirSync(dir).sort()).toEqual(['C01', 'P01', 'S02', 'source']);
  });

  it('--json keeps stdout to one JSON summary, the narrative on stderr; its own temporary folder is removed', async () => {
    const tmp = tempDir('e2e-demo-tmp');
    const r = await cli(['demo', '--once', '--json'], { TMPDIR: tmp });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      dataDir: string;
      package: string;
      sites: { code: string }[];
      status: { dp: string; state: string }[];
      download: string;
    };
    expect(summary.sites.map((s) => s.code)).toEqual(['C01', 'P01', 'S02']);
    expect(summary.status).toContainEqual(expect.objectContaining({ dp: 'S02', state: 'Installed' }));
    expect(summary.download).toContain(`/dp/${summary.package}/setup.bin`);
    expect(r.stderr).toContain('all three sites stopped');
    expect(summary.dataDir.startsWith(tmp)).toBe(true);
    expect(r.stderr).toContain(`removed ${summary.dataDir}`);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
