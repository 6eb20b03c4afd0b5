import { describe, expect, it } from 'vitest';
import { tallyPackages } from './backlog';
import { tone } from './tone';
import { treeOrder } from './tree';
import type { SiteView } from './types';

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

  it("tallies a site's packages: Installed, the failures, and everything still under way", () => {
    expect(
      tallyPackages({
        'Install Pending': 2,
        'Install Retrying': 1,
        Installed: 5,
        'Install Failed': 1,
        'Removal Pending': 1,
        'Removal Retrying': 0,
        'Removal Failed': 2,
      }),
    ).toEqual({ installed: 5, working: 4, failed: 3 });
    expect(tallyPackages({})).toEqual({ installed: 0, working: 0, failed: 0 });
  });
});
