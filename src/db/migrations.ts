import { type ColumnDefinitionBuilder, type Kysely, type Migration, Migrator } from 'kysely';
import { initial } from './migrations/0001_initial.js';
import { messageSubject } from './migrations/0002_message_subject.js';
import { leaseOwners } from './migrations/0003_lease_owners.js';
import { redistributions } from './migrations/0004_redistributions.js';
import { statusByDp } from './migrations/0005_status_by_dp.js';
import { offeredFiles } from './migrations/0006_offered_files.js';
import { namedDps } from './migrations/0007_named_dps.js';
import { preloadedChunks } from './migrations/0008_preloaded_chunks.js';
import { rebuilds } from './migrations/0009_rebuilds.js';
import { boundariesDeployments } from './migrations/0010_boundaries_deployments.js';
import { clients } from './migrations/0011_clients.js';
import { basisChunks } from './migrations/0015_basis_chunks.js';
import { jobStartedAt } from './migrations/0016_job_started_at.js';
import { leaders } from './migrations/0017_leaders.js';
import { statusBySite } from './migrations/0018_status_by_site.js';
import { distmgrMarks } from './migrations/0020_distmgr_marks.js';
import { statusCounts } from './migrations/0022_status_counts.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * One migration set for SQLite and PostgreSQL, a file each under migrations/, applied in name order.
 * Only portable types are used: text, bigint (read back as numbers on both), and an identity column
 * written per dialect.
 */
function migrationsFor(dialect: Dialect): Record<string, Migration> {
  const identity = (c: ColumnDefinitionBuilder) =>
    dialect === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement();
  return {
    '0001_initial': initial(identity),
    '0002_message_subject': messageSubject,
    '0003_lease_owners': leaseOwners,
    '0004_redistributions': redistributions,
    '0005_status_by_dp': statusByDp,
    '0006_offered_files': offeredFiles,
    '0007_named_dps': namedDps,
    '0008_preloaded_chunks': preloadedChunks,
    '0009_rebuilds': rebuilds,
    '0010_boundaries_deployments': boundariesDeployments,
    '0011_clients': clients,
    '0015_basis_chunks': basisChunks,
    '0016_job_started_at': jobStartedAt,
    '0017_leaders': leaders,
    '0018_status_by_site': statusBySite,
    '0020_distmgr_marks': distmgrMarks(dialect, identity),
    '0022_status_counts': statusCounts(dialect),
  };
}

/** Brings a database to the newest schema; safe to run on every start. */
export async function migrate(db: Kysely<unknown>, dialect: Dialect, schema?: string): Promise<void> {
  // On PostgreSQL the migration tables live in the site's own schema: the Migrator looks for them
  // across every schema, and would otherwise find another site's.
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrationsFor(dialect) },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}
