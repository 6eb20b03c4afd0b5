import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Package statuses counted per (site, state), kept by triggers on `package_status` in the same
 * transaction as every change to it, whichever code path makes the change (a report applied, a
 * batch from `dp clone`, a site or DP dropped). The hierarchy-wide summary reads these few rows
 * instead of counting 1.25 million (500 sites of 2,500 packages): 344 ms on PostgreSQL before.
 *
 * SQLite keeps one row per (site, state), updated by row triggers: it has a single writer, so
 * nothing waits on a counter. PostgreSQL has several (the server processes of a scaled-out site),
 * and counters updated in place were locked in opposite orders by two transactions and deadlocked
 * (src/status/counts.test.ts). There a statement trigger over the transition tables only inserts
 * the statement's net change per (site, state), a row no other transaction ever locks; a reader
 * sums them, and folds them back to one row per (site, state) when they pile up.
 */
export function statusCounts(dialect: 'sqlite' | 'postgres'): Migration {
  return {
    async up(db: Kysely<unknown>) {
      let table = db.schema
        .createTable('package_status_counts')
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull());
      // On PostgreSQL a (site, state) has a row per change until a reader folds them.
      if (dialect === 'sqlite')
        table = table.addPrimaryKeyConstraint('package_status_counts_pk', ['site_code', 'state']);
      await table.execute();
      await sql`insert into package_status_counts (site_code, state, n)
        select site_code, state, count(*) from package_status group by site_code, state`.execute(db);
      if (dialect === 'sqlite') await sqliteTriggers(db);
      else await postgresTriggers(db);
    },
  };
}

async function sqliteTriggers(db: Kysely<unknown>): Promise<void> {
  const add = (row: 'new' | 'old') => `insert into package_status_counts (site_code, state, n)
      values (${row}.site_code, ${row}.state, 1)
      on conflict (site_code, state) do update set n = n + 1;`;
  // A counter at zero goes, so a dropped site leaves nothing behind.
  const remove = (row: 'new' | 'old') => `update package_status_counts set n = n - 1
      where site_code = ${row}.site_code and state = ${row}.state;
    delete from package_status_counts
      where site_code = ${row}.site_code and state = ${row}.state and n = 0;`;
  await sql
    .raw(`create trigger package_status_counted_insert after insert on package_status
    begin ${add('new')} end`)
    .execute(db);
  await sql
    .raw(`create trigger package_status_counted_delete after delete on package_status
    begin ${remove('old')} end`)
    .execute(db);
  await sql
    .raw(`create trigger package_status_counted_update after update of site_code, state on package_status
    when old.site_code is not new.site_code or old.state is not new.state
    begin ${remove('old')} ${add('new')} end`)
    .execute(db);
}

async function postgresTriggers(db: Kysely<unknown>): Promise<void> {
  // `deltas` is a query of (site_code, state, d) rows over the statement's transition tables.
  const apply = (deltas: string) => `
    insert into package_status_counts (site_code, state, n)
      select site_code, state, sum(d) from (${deltas}) deltas
      group by site_code, state having sum(d) <> 0;`;
  const inserted = 'select site_code, state, 1 as d from new_rows';
  const deleted = 'select site_code, state, -1 as d from old_rows';
  const fn = async (name: string, deltas: string) =>
    // `search_path from current`: the counters are this site's, in its schema, whoever fires it.
    sql
      .raw(`create function ${name}() returns trigger language plpgsql
      set search_path from current as $$
      begin ${apply(deltas)} return null; end $$`)
      .execute(db);
  await fn('package_status_count_inserted', inserted);
  await fn('package_status_count_deleted', deleted);
  await fn('package_status_count_updated', `${inserted} union all ${deleted}`);
  const trigger = (event: string, tables: string, name: string) =>
    sql
      .raw(`create trigger package_status_counted_${event} after ${event} on package_status
      referencing ${tables} for each statement execute function ${name}()`)
      .execute(db);
  await trigger('insert', 'new table as new_rows', 'package_status_count_inserted');
  await trigger('delete', 'old table as old_rows', 'package_status_count_deleted');
  await trigger('update', 'old table as old_rows new table as new_rows', 'package_status_count_updated');
}
