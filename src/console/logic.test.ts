import { describe, expect, it } from 'vitest';
import { backlogBySite } from './backlog';
import { tone } from './tone';
import { treeOrder } from './tree';
import type { Job, SiteView } from './types';

const site = (code: string, parent: string | null): SiteView => ({
  code,
  parent,
  type: 'secondary',
  name: null,
  url: '',
  state: 'active',
  generation: 'g',
  lastContact: null,
  error: null,
});

const job = (
  site: string,
  state: string,
  bytesSent: number,
  bytesTotal: number,
  rate: number | null,
): Job => ({
  id: `${site}-${state}-${bytesSent}`,
  site,
  kind: 'package',
  package: 'C0100001',
  subject: null,
  sourceVersion: 1,
  dps: [site],
  state,
  bytesSent,
  bytesTotal,
  rate,
  etaSeconds: null,
  attempts: 1,
  lastError: null,
  waiting: null,
  nextAttemptAt: 0,
});

describe('the console', () => {
  it('colours trouble red, work amber, the gone grey, the rest green', () => {
    expect(
      ['unreachable', 'failed', 'Install Failed', 'Install Retrying', 'Removal Failed'].map(tone),
    ).toEqual(Array(5).fill('trouble'));
    expect(['pending', 'installing', 'Install Pending', 'waiting', 'running'].map(tone)).toEqual(
      Array(5).fill('busy'),
    );
    expect(['deleted', 'cancelled', 'aborted'].map(tone)).toEqual(Array(3).fill('gone'));
    expect(['Installed', 'done', 'completed'].map(tone)).toEqual(Array(3).fill('ok'));
  });

  it('puts each site under its parent, children in code order, orphans at the top', () => {
    const order = treeOrder([
      site('S04', 'P01'),
      site('P01', 'C01'),
      site('C01', null),
      site('S02', 'P01'),
      site('S09', 'GONE'),
      site('S03', 'C01'),
    ]);
    expect(order.map((o) => `${o.site.code}@${o.depth}`)).toEqual([
      'C01@0',
      'P01@1',
      'S02@2',
      'S04@2',
      'S03@1',
      'S09@0',
    ]);
  });

  it('counts the backlog of open jobs only: jobs, bytes left, rate', () => {
    const b = backlogBySite([
      job('S02', 'active', 100, 1000, 50),
      job('S02', 'pending', 0, 500, null),
      job('S02', 'completed', 700, 700, null),
      job('S03', 'cancelled', 0, 900, null),
    ]);
    expect(b.get('S02')).toEqual({ jobs: 2, bytes: 1400, rate: 50 });
    expect(b.has('S03')).toBe(false);
  });
});
