import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insertAddress } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import {
  claimJob,
  createJob,
  holdsJob,
  type LeaseOwner,
  listJobs,
  reclaimExpired,
  registerOwner,
  renewOwner,
  retireOwner,
  takeBackLeases,
} from './index.js';

const LEASE = 60_000;
const me: LeaseOwner = { owner: 'here:200:new', host: 'here', pid: 200 };
const ownerOn = (host: string, pid: number, tag: string): LeaseOwner => ({
  owner: `${host}:${pid}:${tag}`,
  host,
  pid,
});
/** Pids 100 and 300 run on this host; anything else is gone. */
const alive = (pid: number) => pid === 100 || pid === 300;

describe('lease owners', () => {
  let site: SiteDb;

  beforeEach(async () => {
    site = await openDatabase({ kind: 'sqlite', file: join(tempDir('owners'), 'db') });
    await insertAddress(site.db);
  });
  afterEach(async () => {
    await site.close();
  });

  /** A job claimed by `owner` at `now`, its lease running for LEASE. */
  async function claimedBy(owner: LeaseOwner, now: number): Promise<string> {
    const id = await createJob(
      site.db,
      { site: 'S02', kind: 'package', package: 'C0100001', sourceVersion: 1, dps: ['S02'] },
      0,
    );
    expect(await claimJob(site.db, id, owner.owner, LEASE, now)).toBeDefined();
    return id;
  }

  it('takes back at once the leases of a process of this host that is gone, and of a retired one', async () => {
    const killed = ownerOn('here', 150, 'old');
    const stopped = ownerOn('here', 100, 'stopped');
    await registerOwner(site.db, killed, 1000);
    await registerOwner(site.db, stopped, 1000);
    const a = await claimedBy(killed, 1000);
    const b = await claimedBy(stopped, 1000);
    await retireOwner(site.db, stopped.owner);

    await registerOwner(site.db, me, 2000);
    expect(await takeBackLeases(site.db, me, 2000, LEASE, alive)).toBe(2);
    // Well inside the lease time, the next round takes both back.
    await reclaimExpired(site.db, 2001);
    const jobs = await listJobs(site.db, {});
    expect(jobs.filter((j) => j.id === a || j.id === b).map((j) => j.state)).toEqual([
      'retrying',
      'retrying',
    ]);
    expect((await site.db.selectFrom('lease_owners').select('owner').execute()).map((o) => o.owner)).toEqual([
      me.owner,
    ]);
  });

  it('honours the leases of a live process of this host and of a recently seen one elsewhere', async () => {
    const sibling = ownerOn('here', 300, 'peer');
    const remote = ownerOn('there', 150, 'peer');
    await registerOwner(site.db, sibling, 1000);
    await registerOwner(site.db, remote, 1000);
    const a = await claimedBy(sibling, 1000);
    const b = await claimedBy(remote, 1000);

    await registerOwner(site.db, me, 2000);
    expect(await takeBackLeases(site.db, me, 2000, LEASE, alive)).toBe(0);
    expect(await holdsJob(site.db, a, sibling.owner)).toBe(true);
    expect(await holdsJob(site.db, b, remote.owner)).toBe(true);
  });

  it('takes back from a process elsewhere once it has been silent for the lease time', async () => {
    const remote = ownerOn('there', 150, 'peer');
    await registerOwner(site.db, remote, 1000);
    const id = await claimedBy(remote, 1000);
    await renewOwner(site.db, remote, 5000);
    await registerOwner(site.db, me, 5000 + LEASE - 1);
    expect(await takeBackLeases(site.db, me, 5000 + LEASE - 1, LEASE, alive)).toBe(0);
    expect(await takeBackLeases(site.db, me, 5000 + LEASE + 1, LEASE, alive)).toBe(1);
    await reclaimExpired(site.db, 5000 + LEASE + 2);
    expect(await holdsJob(site.db, id, remote.owner)).toBe(false);
  });

  it('puts back the row of a live process that was taken for gone, so its leases are honoured again', async () => {
    const stalled = ownerOn('there', 150, 'peer');
    await registerOwner(site.db, stalled, 1000);
    await registerOwner(site.db, me, 1000 + LEASE + 1);
    expect(await takeBackLeases(site.db, me, 1000 + LEASE + 1, LEASE, alive)).toBe(0);
    await renewOwner(site.db, stalled, 1000 + LEASE + 2);
    const id = await claimedBy(stalled, 1000 + LEASE + 2);
    expect(await takeBackLeases(site.db, me, 1000 + LEASE + 3, LEASE, alive)).toBe(0);
    expect(await holdsJob(site.db, id, stalled.owner)).toBe(true);
  });

  it('treats an earlier process whose pid came round to this one as gone, and keeps its own leases', async () => {
    const earlier = ownerOn('here', me.pid, 'earlier');
    await registerOwner(site.db, earlier, 1000);
    const theirs = await claimedBy(earlier, 1000);
    await registerOwner(site.db, me, 2000);
    const mine = await claimedBy(me, 2000);
    expect(await takeBackLeases(site.db, me, 2000, LEASE, () => true)).toBe(1);
    await reclaimExpired(site.db, 2001);
    expect(await holdsJob(site.db, theirs, earlier.owner)).toBe(false);
    expect(await holdsJob(site.db, mine, me.owner)).toBe(true);
  });
});
