import { describe, expect, it } from 'vitest';
import { cli, tempDir } from './helpers.js';

describe('outpost demo', () => {
  it('--once stands up C01 → P01 → S02, gets the package Installed, prints a download command and stops', async () => {
    const r = await cli(['demo', '--once', '--dir', tempDir('e2e-demo')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/package (C01[0-9A-F]{5}) 'Demo App' created at C01/);
    expect(r.stdout).toMatch(/C01[0-9A-F]{5} {2}v1 {2}DP S02 +Installed/);
    const url = /curl -o setup.bin (\S+)/.exec(r.stdout)?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dp\/C01[0-9A-F]{5}\/setup.bin$/);
    expect(r.stdout).toContain('all three sites stopped');
    // Stopped means stopped: the DP no longer answers.
    await expect(fetch(url ?? '')).rejects.toThrow();
  });

  it('--json keeps stdout to one JSON summary, the narrative on stderr', async () => {
    const r = await cli(['demo', '--once', '--json', '--dir', tempDir('e2e-demo-json')]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      package: string;
      sites: { code: string }[];
      status: { dp: string; state: string }[];
      download: string;
    };
    expect(summary.sites.map((s) => s.code)).toEqual(['C01', 'P01', 'S02']);
    expect(summary.status).toContainEqual(expect.objectContaining({ dp: 'S02', state: 'Installed' }));
    expect(summary.download).toContain(`/dp/${summary.package}/setup.bin`);
    expect(r.stderr).toContain('all three sites stopped');
  });
});
