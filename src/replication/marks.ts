import type { SiteContext } from '../core/index.js';
import { inChunks } from './schedule.js';

type Db = SiteContext['db'];

/** A change distmgr has yet to act on, left by the triggers of migration 0020: '' is "any". */
export interface Mark {
  id: number;
  site_code: string;
  package_id: string;
  version: number;
}

/** Every mark left so far. */
export async function readMarks(db: Db): Promise<Mark[]> {
  return db.selectFrom('distmgr_marks').select(['id', 'site_code', 'package_id', 'version']).execute();
}

/**
 * Drops the marks a round read, once it has acted on what they stand for. Only those, and only at
 * the version read: a pair marked again meanwhile (by another process, or by the round's own jobs)
 * keeps its mark for the next round. A crash before this leaves them all to be done again, which
 * does nothing more than once (distmgr is level-triggered).
 */
export async function consumeMarks(db: Db, marks: Mark[]): Promise<void> {
  // Runs of consecutive ids at one version: after the 1.25 million writes of a bulk load, a few
  // ranges instead of a condition per mark.
  const sorted = [...marks].sort((a, b) => a.version - b.version || a.id - b.id);
  const runs: { from: number; to: number; version: number }[] = [];
  for (const m of sorted) {
    const last = runs.at(-1);
    if (last && last.version === m.version && last.to + 1 === m.id) last.to = m.id;
    else runs.push({ from: m.id, to: m.id, version: m.version });
  }
  for (const chunk of inChunks(runs, 200))
    await db
      .deleteFrom('distmgr_marks')
      .where((eb) =>
        eb.or(
          chunk.map((r) =>
            eb.and([eb('id', '>=', r.from), eb('id', '<=', r.to), eb('version', '=', r.version)]),
          ),
        ),
      )
      .execute();
}
