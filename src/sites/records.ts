import type { Kysely, Selectable } from 'kysely';
import type { Database, SitesTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import type { SiteRecord } from '../status/index.js';

type Db = Kysely<Database>;

/** A site as `site list --json` shows it. */
export interface SiteView extends SiteRecord {
  relation: string;
}

export interface SitePhase {
  name: string;
  state: string;
  at: number;
  error: string | null;
}

export function siteRecordOf(row: Selectable<SitesTable>): SiteRecord {
  return {
    code: row.code,
    type: row.type,
    parent: row.parent_code,
    name: row.name,
    url: row.url,
    state: row.state,
    generation: row.generation,
    lastContact: row.last_contact,
    error: row.error,
    updatedAt: row.updated_at,
  };
}

/** Every site this site knows: itself, its parent, its children and what they reported below them. */
export async function listSites(db: Db): Promise<SiteView[]> {
  const rows = await db.selectFrom('sites').selectAll().orderBy('code').execute();
  return rows.map((r) => ({ ...siteRecordOf(r), relation: r.relation }));
}

export async function getSiteRow(db: Db, code: string): Promise<Selectable<SitesTable>> {
  const row = await db.selectFrom('sites').selectAll().where('code', '=', code).executeTakeFirst();
  if (!row) throw new OutpostError('OUTPOST_SITE_NOT_FOUND', `site ${code} is not known here`);
  return row;
}

/** One site with its install phase timeline. */
export async function showSite(db: Db, code: string): Promise<SiteView & { phases: SitePhase[] }> {
  const row = await getSiteRow(db, code);
  const phases = await db
    .selectFrom('site_phases')
    .selectAll()
    .where('site_code', '=', code)
    .orderBy('at')
    .execute();
  return {
    ...siteRecordOf(row),
    relation: row.relation,
    phases: phases.map((p) => ({ name: p.name, state: p.state, at: p.at, error: p.error })),
  };
}

/** Records (or updates) one install phase of a child site. */
export async function recordPhase(
  db: Db,
  code: string,
  name: string,
  state: string,
  at: number,
  error: string | null = null,
): Promise<void> {
  await db
    .insertInto('site_phases')
    .values({ site_code: code, name, state, at, error })
    .onConflict((oc) => oc.columns(['site_code', 'name']).doUpdateSet({ state, at, error }))
    .execute();
}

/**
 * The direct child of `self` through which `target` is reached, walking up the parent links the
 * hierarchy reported; null when `target` is `self` or not below it.
 */
export async function nextHop(
  db: Db,
  self: string,
  target: string,
  includeDeleted = false,
): Promise<string | null> {
  let code = target;
  for (let depth = 0; depth < 64; depth++) {
    if (code === self) return null;
    const row = await db
      .selectFrom('sites')
      .select(['parent_code', 'state'])
      .where('code', '=', code)
      .executeTakeFirst();
    if (!row || (row.state === 'deleted' && !includeDeleted) || !row.parent_code) return null;
    if (row.parent_code === self) return code;
    code = row.parent_code;
  }
  return null;
}
