import type { Kysely } from 'kysely';
import type { Database } from '../db/index.js';

type Db = Kysely<Database>;

/**
 * A component that must run in one process of a site at a time (distmgr makes jobs from what it
 * reads, so two of them would make each job twice) when several server processes share the site's
 * database. The role is a lease in the database: a process takes it when it is free or has expired,
 * and renews it while it runs, writing only once half of it has passed. A process that stops
 * answering loses it after `ttlMs`; one that stops cleanly gives it up at once.
 */
export class Leadership {
  private readonly heldUntil = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  /** Whether this process leads `role` now (taking or renewing it as needed). */
  async lead(role: string, now: number): Promise<boolean> {
    const until = this.heldUntil.get(role) ?? 0;
    if (until - now > this.ttlMs / 2) return true;
    const expires = now + this.ttlMs;
    const renewed = await this.db
      .updateTable('leaders')
      .set({ owner: this.owner, expires_at: expires })
      .where('role', '=', role)
      .where((eb) => eb.or([eb('owner', '=', this.owner), eb('expires_at', '<', now)]))
      .executeTakeFirst();
    let held = Number(renewed.numUpdatedRows) === 1;
    if (!held) {
      const taken = await this.db
        .insertInto('leaders')
        .values({ role, owner: this.owner, expires_at: expires })
        .onConflict((oc) => oc.column('role').doNothing())
        .executeTakeFirst();
      held = Number(taken.numInsertedOrUpdatedRows ?? 0) === 1;
    }
    if (held) this.heldUntil.set(role, expires);
    else this.heldUntil.delete(role);
    return held;
  }

  /** Gives up every role this process holds, so another process takes them without waiting. */
  async resign(): Promise<void> {
    this.heldUntil.clear();
    await this.db.deleteFrom('leaders').where('owner', '=', this.owner).execute();
  }
}
