import { describe, expect, it } from 'vitest';
import { type ChildState, diffChild, type JobTarget, type Target } from './diff.js';

const P = 'C0100001';
const v = (version: number, ...dps: string[]): Target => ({ version, dps });
/** A job that has run at least once: a package job with DPs, an unassign job without. */
const job = (version: number, ...dps: string[]): JobTarget => ({
  kind: dps.length ? 'package' : 'unassign',
  package: P,
  sourceVersion: version,
  dps,
  started: true,
});

function diff(s: Partial<ChildState>) {
  return diffChild({ want: new Map(), delivered: new Map(), open: [], failed: [], ...s });
}

describe('diffChild', () => {
  it('nothing wanted, nothing given, no jobs: nothing to do', () => {
    expect(diff({})).toEqual([]);
  });

  it('a package wanted and not given gets a package job', () => {
    expect(diff({ want: new Map([[P, v(2, 'S02', 'S03')]]) })).toEqual([
      { package: P, cancelOpen: false, create: { kind: 'package', sourceVersion: 2, dps: ['S02', 'S03'] } },
    ]);
  });

  it('a package already given as wanted needs nothing', () => {
    expect(diff({ want: new Map([[P, v(2, 'S02')]]), delivered: new Map([[P, v(2, 'S02')]]) })).toEqual([]);
  });

  it('a new version or a changed set of DPs is sent again', () => {
    const delivered = new Map([[P, v(1, 'S02')]]);
    expect(diff({ want: new Map([[P, v(2, 'S02')]]), delivered })[0]?.create).toEqual({
      kind: 'package',
      sourceVersion: 2,
      dps: ['S02'],
    });
    expect(diff({ want: new Map([[P, v(1, 'S02', 'S03')]]), delivered })[0]?.create).toEqual({
      kind: 'package',
      sourceVersion: 1,
      dps: ['S02', 'S03'],
    });
  });

  it('a package given but no longer wanted gets an unassign job for the version it holds', () => {
    expect(diff({ delivered: new Map([[P, v(3, 'S02')]]) })).toEqual([
      { package: P, cancelOpen: false, create: { kind: 'unassign', sourceVersion: 3, dps: [] } },
    ]);
  });

  it('an open job for the current target is left alone', () => {
    expect(diff({ want: new Map([[P, v(2, 'S02')]]), open: [job(2, 'S02')] })).toEqual([]);
    // The same holds for an open unassign job when nothing is wanted.
    expect(diff({ delivered: new Map([[P, v(2, 'S02')]]), open: [job(2)] })).toEqual([]);
  });

  it('an open job for an older target is cancelled and replaced', () => {
    expect(diff({ want: new Map([[P, v(2, 'S02')]]), open: [job(1, 'S02')] })).toEqual([
      { package: P, cancelOpen: true, create: { kind: 'package', sourceVersion: 2, dps: ['S02'] } },
    ]);
  });

  it('duplicate open jobs are cancelled and one made again', () => {
    expect(diff({ want: new Map([[P, v(2, 'S02')]]), open: [job(2, 'S02'), job(2, 'S02')] })).toEqual([
      { package: P, cancelOpen: true, create: { kind: 'package', sourceVersion: 2, dps: ['S02'] } },
    ]);
  });

  it('an open job no longer needed (the child already holds the target) is cancelled only', () => {
    expect(
      diff({
        want: new Map([[P, v(2, 'S02')]]),
        delivered: new Map([[P, v(2, 'S02')]]),
        open: [job(1, 'S02')],
      }),
    ).toEqual([{ package: P, cancelOpen: true, create: null }]);
    // Unassigned before the package job ran: cancel it, nothing to take back.
    expect(diff({ open: [{ ...job(2, 'S02'), started: false }] })).toEqual([
      { package: P, cancelOpen: true, create: null },
    ]);
  });

  it('a package job that ran but never completed, then unassigned: the child is told to forget it', () => {
    const unassign = { kind: 'unassign', sourceVersion: null, dps: [] };
    // Cancelled mid-transfer...
    expect(diff({ open: [job(2, 'S02')] })).toEqual([{ package: P, cancelOpen: true, create: unassign }]);
    // ...or after it failed (a full disk at the child).
    expect(diff({ failed: [job(2, 'S02')] })).toEqual([{ package: P, cancelOpen: false, create: unassign }]);
    // Once the unassign is on its way, or when it is the unassign that failed, nothing more.
    expect(diff({ failed: [job(2, 'S02')], open: [job(2)] })).toEqual([]);
    expect(diff({ failed: [job(2)] })).toEqual([]);
  });

  it('a failed job for the current target is not re-created; a changed target is tried again', () => {
    expect(diff({ want: new Map([[P, v(2, 'S02')]]), failed: [job(2, 'S02')] })).toEqual([]);
    expect(diff({ want: new Map([[P, v(3, 'S02')]]), failed: [job(2, 'S02')] })).toHaveLength(1);
  });

  it('jobs without a package (purges) are not the diff’s business', () => {
    expect(
      diff({ open: [{ kind: 'purge', package: null, sourceVersion: null, dps: [], started: true }] }),
    ).toEqual([]);
  });

  it('each package is decided on its own', () => {
    const Q = 'C0100002';
    const actions = diff({
      want: new Map([
        [P, v(1, 'S02')],
        [Q, v(1, 'S02')],
      ]),
      delivered: new Map([[Q, v(1, 'S02')]]),
    });
    expect(actions.map((a) => a.package)).toEqual([P]);
  });
});
