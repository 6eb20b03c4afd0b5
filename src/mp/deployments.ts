import type { Kysely, Selectable } from 'kysely';
import { formatDuration } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import type { Database, DeploymentsTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { assertPackageId, getPackageRow } from '../packages/index.js';
import { assertClientId, type DeploymentRecord, type Program, type TargetKind } from '../s2s/index.js';
import { assertSiteCode } from '../sites/index.js';
import { postMessage } from '../status/index.js';
import { assertBoundaryName, assertSiteAtOrBelow } from './boundaries.js';

type Db = Kysely<Database>;

/** A deployment as `deployment list --json` shows it. */
export interface DeploymentView {
  id: string;
  package: string;
  program: Program;
  fallback: boolean;
  target: { kind: TargetKind; values: string[] };
  /** Where it was made: only there can it be deleted. */
  origin: string;
  createdAt: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const MAX_TIMEOUT_MS = 7 * 24 * 3_600_000;

export function deploymentOf(r: Selectable<DeploymentsTable>): DeploymentView {
  return {
    id: r.id,
    package: r.package_id,
    program: {
      command: r.command,
      workdir: r.workdir,
      timeoutMs: Number(r.timeout_ms),
      successCodes: JSON.parse(r.success_codes) as number[],
    },
    fallback: Number(r.fallback) === 1,
    target: { kind: r.target_kind, values: JSON.parse(r.targets) as string[] },
    origin: r.origin_site,
    createdAt: r.created_at,
  };
}

/** The row of a deployment record. */
export function deploymentRow(d: DeploymentRecord): Selectable<DeploymentsTable> {
  return {
    id: d.id,
    package_id: d.package,
    command: d.program.command,
    workdir: d.program.workdir,
    timeout_ms: d.program.timeoutMs,
    success_codes: JSON.stringify(d.program.successCodes),
    fallback: d.fallback ? 1 : 0,
    target_kind: d.target.kind,
    targets: JSON.stringify(d.target.values),
    origin_site: d.origin,
    created_at: d.createdAt,
  };
}

/** Every deployment this site holds: its own and those given from above. */
export async function listDeployments(db: Db): Promise<DeploymentView[]> {
  return (await db.selectFrom('deployments').selectAll().orderBy('id').execute()).map(deploymentOf);
}

/** A deployment id: the making site's code, `D`, five hex digits (`C01D00001`). */
export function assertDeploymentId(id: string): string {
  if (!/^[A-Z0-9]{3}D[0-9A-F]{5}$/.test(id))
    throw new OutpostError('OUTPOST_BAD_INPUT', `deployment id '${id}' is not of the form C01D00001`);
  return id;
}

async function nextDeploymentId(db: Db, site: string): Promise<string> {
  const row = await db
    .selectFrom('kv')
    .select('value')
    .where('key', '=', 'deployments.next')
    .executeTakeFirst();
  const n = row ? Number(row.value) : 1;
  if (n > 0xfffff) throw new OutpostError('OUTPOST_BAD_INPUT', `site ${site} has used every deployment id`);
  await db
    .insertInto('kv')
    .values({ key: 'deployments.next', value: String(n + 1) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(n + 1) }))
    .execute();
  return `${site}D${n.toString(16).toUpperCase().padStart(5, '0')}`;
}

export interface CreateDeploymentInput {
  package: string;
  command: string;
  workdir?: string;
  timeoutMs?: number;
  successCodes?: number[];
  fallback?: boolean;
  sites?: string[];
  boundaries?: string[];
  clients?: string[];
}

/** The one kind of target given, checked against what this site knows. */
async function targetOf(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  input: CreateDeploymentInput,
): Promise<{ kind: TargetKind; values: string[] }> {
  const given = (
    [
      ['site', input.sites],
      ['boundary', input.boundaries],
      ['client', input.clients],
    ] as const
  ).filter(([, v]) => v && v.length > 0);
  if (given.length !== 1)
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      given.length ? 'give one kind of target: --site, --boundary or --client' : 'give a target',
      { hint: 'deploy to the clients of --site CODE, of --boundary NAME, or to --client ID …' },
    );
  const [kind, list] = given[0];
  const values = [...new Set(list)];
  for (const value of values) {
    if (kind === 'site') await assertSiteAtOrBelow(ctx, assertSiteCode(value), 'a deployment');
    else if (kind === 'boundary') {
      const row = await ctx.db
        .selectFrom('boundaries')
        .select('name')
        .where('name', '=', assertBoundaryName(value))
        .executeTakeFirst();
      if (!row)
        throw new OutpostError('OUTPOST_BOUNDARY_NOT_FOUND', `boundary ${value} is not known here`, {
          hint: 'outpost boundary list',
        });
    } else {
      const row = await ctx.db
        .selectFrom('clients')
        .select('id')
        .where('id', '=', assertClientId(value))
        .executeTakeFirst();
      if (!row)
        throw new OutpostError('OUTPOST_CLIENT_NOT_FOUND', `client ${value} is not known here`, {
          hint: 'a client is known once it has registered at its site and the record has come up',
        });
    }
  }
  return { kind, values };
}

/**
 * `deployment create`: the program of a package (known here) for the clients of sites, boundaries or
 * named clients. It goes down to the sites that need it, as the boundaries do.
 */
export async function createDeployment(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  input: CreateDeploymentInput,
): Promise<DeploymentView> {
  const pkg = await getPackageRow(ctx.db, assertPackageId(input.package));
  const command = input.command.trim();
  if (!command || command.length > 4096)
    throw new OutpostError('OUTPOST_BAD_INPUT', '--command must be 1 to 4096 characters');
  const workdir = input.workdir?.trim() || null;
  if (workdir !== null && workdir.length > 1024)
    throw new OutpostError('OUTPOST_BAD_INPUT', '--workdir must be at most 1024 characters');
  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs >= 1000 && timeoutMs <= MAX_TIMEOUT_MS))
    throw new OutpostError('OUTPOST_BAD_INPUT', '--timeout must be from 1s to 168h');
  const successCodes = [...new Set(input.successCodes ?? [0])];
  if (successCodes.length === 0 || successCodes.length > 64 || !successCodes.every(Number.isInteger))
    throw new OutpostError('OUTPOST_BAD_INPUT', '--success-codes must be 1 to 64 whole numbers');
  const target = await targetOf(ctx, input);
  const now = ctx.clock.now();
  const view = await ctx.db.transaction().execute(async (trx) => {
    const id = await nextDeploymentId(trx, ctx.config.code);
    const record: DeploymentRecord = {
      id,
      package: pkg.id,
      program: { command, workdir, timeoutMs, successCodes },
      fallback: !!input.fallback,
      target,
      origin: ctx.config.code,
      createdAt: now,
    };
    await trx.insertInto('deployments').values(deploymentRow(record)).execute();
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'mp',
      text: `deployment ${id} of package ${pkg.id} created for ${target.kind} ${target.values.join(', ')}: ${command} (timeout ${formatDuration(timeoutMs)}${record.fallback ? ', fallback' : ''})`,
      package: pkg.id,
    });
    return deploymentOf(deploymentRow(record));
  });
  ctx.wake.notify('mp');
  return view;
}

/** `deployment delete`: only at the site where it was made; the sites below drop it with the next policy. */
export async function deleteDeployment(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  idText: string,
): Promise<DeploymentView> {
  const id = assertDeploymentId(idText);
  const now = ctx.clock.now();
  const view = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row)
      throw new OutpostError('OUTPOST_DEPLOYMENT_NOT_FOUND', `deployment ${id} is not known here`, {
        hint: 'outpost deployment list',
      });
    if (row.origin_site !== ctx.config.code)
      throw new OutpostError('OUTPOST_NOT_ORIGIN', `deployment ${id} is managed at ${row.origin_site}`, {
        hint: `delete it at ${row.origin_site}`,
      });
    await trx.deleteFrom('deployments').where('id', '=', id).execute();
    await trx.deleteFrom('deployment_status').where('deployment_id', '=', id).execute();
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'mp',
      text: `deployment ${id} of package ${row.package_id} deleted`,
      package: row.package_id,
    });
    return deploymentOf(row);
  });
  ctx.wake.notify('mp');
  return view;
}

/** What a deployment's target is matched against: a client's site, boundary and id. */
export interface Targetable {
  site: string;
  boundary: string;
  id: string;
}

/** Whether deployment `d` is for client `c`. */
export function targets(d: Pick<DeploymentView, 'target'>, c: Targetable): boolean {
  const key = d.target.kind === 'site' ? c.site : d.target.kind === 'boundary' ? c.boundary : c.id;
  return d.target.values.includes(key);
}
