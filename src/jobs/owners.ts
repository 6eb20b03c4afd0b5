import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Database } from '../db/index.js';

type Db = Kysely<Database>;

/** A server process that may hold job leases: its lease-owner id, and where it runs. */
export interface LeaseOwner {
  owner: string;
  host: string;
  pid: number;
}

/** This process's identity as a lease owner; new on every start. */
export function newLeaseOwner(): LeaseOwner {
  const host = hostname();
  return { owner: `${host}:${process.pid}:${randomUUID().slice(0, 8)}`, host, pid: process.pid };
}

/** Whether a process of this host is running; signal 0 only asks. */
export function localProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Records `me` as a process that may hold leases; done before its sender claims anything. */
export async function registerOwner(db: Db, me: LeaseOwner, now: number): Promise<void> {
  await db
    .insertInto('lease_owners')
    .values({ owner: me.owner, host: me.host, pid: me.pid, started_at: now, seen_at: now })
    .execute();
}

/**
 * Says `me` is still running, so other processes of the site keep honouring its leases; puts its
 * row back if another process took it for gone (after a long stall, say).
 */
export async function renewOwner(db: Db, me: LeaseOwner, now: number): Promise<void> {
  await db
    .insertInto('lease_owners')
    .values({ owner: me.owner, host: me.host, pid: me.pid, started_at: now, seen_at: now })
    .onConflict((oc) => oc.column('owner').doUpdateSet({ seen_at: now }))
    .execute();
}

/** A clean stop: `owner` holds nothing any more, and the next start takes back what it left. */
export async function retireOwner(db: Db, owner: string): Promise<void> {
  await db.deleteFrom('lease_owners').where('owner', '=', owner).execute();
}

/**
 * At start: forgets the site's processes that are gone (on this host, their pid no longer runs;
 * anywhere, silent for `staleMs`) and expires at once every lease not held by a process still
 * registered, so the sender's next round takes those jobs back instead of waiting out the lease;
 * the roles they led are freed the same way. A live process sharing the database keeps its leases. Returns how many leases were expired.
 */
export async function takeBackLeases(
  db: Db,
  me: LeaseOwner,
  now: number,
  staleMs: number,
  alive: (pid: number) => boolean = localProcessAlive,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const others = await trx.selectFrom('lease_owners').selectAll().where('owner', '!=', me.owner).execute();
    // A pid equal to ours on this host is an earlier process whose pid came round again.
    const gone = others.filter(
      (o) => o.seen_at < now - staleMs || (o.host === me.host && (o.pid === me.pid || !alive(Number(o.pid)))),
    );
    if (gone.length > 0) {
      await trx
        .deleteFrom('lease_owners')
        .where(
          'owner',
          'in',
          gone.map((o) => o.owner),
        )
        .execute();
    }
    const expired = await trx
      .updateTable('jobs')
      .set({ lease_expires_at: 0 })
      .where('state', '=', 'active')
      .where('lease_owner', 'not in', trx.selectFrom('lease_owners').select('owner'))
      .executeTakeFirst();
    // The roles they led (see Leadership) are free at once too.
    await trx
      .deleteFrom('leaders')
      .where('owner', 'not in', trx.selectFrom('lease_owners').select('owner'))
      .execute();
    return Number(expired.numUpdatedRows);
  });
}
