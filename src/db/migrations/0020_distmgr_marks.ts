import { type ColumnDefinitionBuilder, type Kysely, type Migration, sql } from 'kysely';

/** A table whose changes can change what a child should hold, and the mark each changed row leaves. */
interface Watch {
  table: string;
  /** The columns whose update matters (all of them for inserts and deletes). */
  columns: string[];
  /** The site and package of the mark, as expressions over `R` (the row: NEW or OLD); '' is "any". */
  site: string;
  pkg: string;
  /** Rows that never matter (SQL over `R`), if any. */
  when?: string;
}

const WATCHES: Watch[] = [
  // An assignment: that package, at every child (its DP's next hop is worked out by distmgr).
  { table: 'assignments', columns: ['package_id', 'dp', 'site_code'], site: "''", pkg: 'R.package_id' },
  // A new version, or a version completing here: that package, at every child.
  { table: 'packages', columns: ['source_version', 'complete_version'], site: "''", pkg: 'R.id' },
  // What a child was given: that child and package.
  {
    table: 'deliveries',
    columns: ['source_version', 'dps'],
    site: 'R.site_code',
    pkg: 'R.package_id',
  },
  // A job made, finished, failed, retried, cancelled or deleted (not its progress): its child and package.
  {
    table: 'jobs',
    columns: ['state'],
    site: 'R.site_code',
    pkg: 'R.package_id',
    when: 'R.package_id IS NOT NULL',
  },
  // A site added, deleted, moved or replaced: everything at (or routed through) it.
  {
    table: 'sites',
    columns: ['parent_code', 'relation', 'state', 'generation'],
    site: 'R.code',
    pkg: "''",
  },
  // A named DP added or removed: everything at its site.
  { table: 'dps', columns: ['site_code'], site: 'R.site_code', pkg: "''" },
];

const on = (row: 'NEW' | 'OLD', expr: string) => expr.replaceAll('R.', `${row}.`);

const UPSERT_TAIL = 'ON CONFLICT (site_code, package_id) DO UPDATE SET version = distmgr_marks.version + 1';

const changed = (w: Watch, distinct: string) =>
  w.columns.map((c) => `OLD.${c} ${distinct} NEW.${c}`).join(' OR ');

function sqliteTriggers(w: Watch): string[] {
  // INSERT … SELECT … WHERE: the WHERE (always present) keeps ON CONFLICT from parsing as a join.
  const upsert = (row: 'NEW' | 'OLD') =>
    `INSERT INTO distmgr_marks (site_code, package_id) SELECT ${on(row, w.site)}, ${on(row, w.pkg)} WHERE ${on(row, w.when ?? 'true')} ${UPSERT_TAIL};`;
  const name = `distmgr_mark_${w.table}`;
  return [
    `CREATE TRIGGER ${name}_insert AFTER INSERT ON ${w.table} BEGIN ${upsert('NEW')} END`,
    `CREATE TRIGGER ${name}_delete AFTER DELETE ON ${w.table} BEGIN ${upsert('OLD')} END`,
    `CREATE TRIGGER ${name}_update AFTER UPDATE OF ${w.columns.join(', ')} ON ${w.table} WHEN ${changed(w, 'IS NOT')} BEGIN ${upsert('OLD')} ${upsert('NEW')} END`,
  ];
}

function postgresTriggers(w: Watch): string[] {
  const name = `distmgr_mark_${w.table}`;
  const guarded = (row: 'NEW' | 'OLD') =>
    `IF ${on(row, w.when ?? 'true')} THEN INSERT INTO distmgr_marks (site_code, package_id) VALUES (${on(row, w.site)}, ${on(row, w.pkg)}) ${UPSERT_TAIL}; END IF;`;
  return [
    `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN ${guarded('OLD')} END IF;
  IF TG_OP <> 'DELETE' THEN ${guarded('NEW')} END IF;
  RETURN NULL;
END $$`,
    `CREATE TRIGGER ${name}_change AFTER INSERT OR DELETE ON ${w.table} FOR EACH ROW EXECUTE FUNCTION ${name}()`,
    `CREATE TRIGGER ${name}_update AFTER UPDATE OF ${w.columns.join(', ')} ON ${w.table} FOR EACH ROW WHEN (${changed(w, 'IS DISTINCT FROM')}) EXECUTE FUNCTION ${name}()`,
  ];
}

/**
 * What changed since distmgr last looked, so a round with nothing changed reads two small tables
 * instead of every assignment: triggers on every table whose rows decide what a child should hold
 * leave a mark (child or any site, package or any), one row per pair, its version bumped when the
 * pair changes again. Triggers rather than writes in the domain code: every path that changes those
 * rows (assign, clone, redistribute, jobs, deliveries, site add/delete/replace, rebuild steps, a
 * test writing rows) marks without having to remember to. Plus the indexes the narrow reads use.
 */
export function distmgrMarks(
  dialect: 'sqlite' | 'postgres',
  identity: (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder,
): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('distmgr_marks')
        .addColumn('id', 'integer', identity)
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('package_id', 'text', (c) => c.notNull())
        .addColumn('version', 'bigint', (c) => c.notNull().defaultTo(0))
        .addUniqueConstraint('distmgr_marks_pair', ['site_code', 'package_id'])
        .execute();
      for (const w of WATCHES)
        for (const statement of dialect === 'postgres' ? postgresTriggers(w) : sqliteTriggers(w))
          await sql.raw(statement).execute(db);
      // Work from what changed: assignments of a child's subtree, deliveries and jobs of a package.
      await db.schema.createIndex('assignments_by_site').on('assignments').column('site_code').execute();
      await db.schema.createIndex('deliveries_by_package').on('deliveries').column('package_id').execute();
      await db.schema.createIndex('jobs_by_package').on('jobs').columns(['package_id', 'state']).execute();
      await db.schema.createIndex('jobs_by_site').on('jobs').columns(['site_code', 'state']).execute();
      // Everything changed as far as distmgr knows: the first round after this is a full one anyway.
      await sql`INSERT INTO distmgr_marks (site_code, package_id) VALUES ('', '')`.execute(db);
    },
  };
}
