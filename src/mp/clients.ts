import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import {
  type ClientRecord,
  clientIdOf,
  type Placement,
  type Policy,
  type PolicyDeployment,
  type StatusBody,
  type Unassigned,
} from '../s2s/index.js';
import { recordClient, setDeploymentStatus } from '../status/index.js';
import { placeAddress } from './boundaries.js';
import { assertDeploymentId, deploymentOf, listDeployments, targets } from './deployments.js';
import { policyPackage } from './policy.js';
import { parseAddress } from './ranges.js';

type Ctx = Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink'>;

/** How stale a client's last_seen may be before a policy request writes it again. */
const LAST_SEEN_STEP_MS = 60_000;

/**
 * Where a client at `address` belongs: this site (with the boundary that places it there), another
 * site, or no site at all. The answer to a client outside this site is not an error: it is told why,
 * and gets no policy.
 */
export async function placeClient(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  addressText: string,
): Promise<{ boundary: string; address: string } | Unassigned> {
  const address = parseAddress(addressText).text;
  const boundary = await placeAddress(ctx.db, address);
  if (!boundary)
    return {
      assigned: false,
      reason: 'outside-boundaries',
      address,
      message: `address ${address} is in no boundary ${ctx.config.code} knows: no site manages this client`,
    };
  if (boundary.site !== ctx.config.code) {
    const site = await ctx.db
      .selectFrom('sites')
      .select('url')
      .where('code', '=', boundary.site)
      .executeTakeFirst();
    return {
      assigned: false,
      reason: 'other-site',
      address,
      site: boundary.site,
      mp: site?.url ?? null,
      message: `address ${address} is in boundary ${boundary.name} of site ${boundary.site}: ask its management point`,
    };
  }
  return { boundary: boundary.name, address };
}

/**
 * `POST /mp/v1/register`: a client inside this site's boundaries, which proved it holds the key it
 * sends (the request is signed with it), is recorded with the id its key gives, and its record goes
 * up to every ancestor. Registering again (same key) keeps the id and updates address and boundary.
 */
export async function registerClient(
  ctx: Ctx,
  input: { publicKey: string; name?: string; address: string },
): Promise<Placement | Unassigned> {
  const id = clientIdOf(input.publicKey);
  const placed = await placeClient(ctx, input.address);
  if ('assigned' in placed) return placed;
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('clients')
      .select(['registered_at', 'site_code'])
      .where('id', '=', id)
      .executeTakeFirst();
    const record: ClientRecord = {
      id,
      site: ctx.config.code,
      name: input.name?.trim() || null,
      address: placed.address,
      boundary: placed.boundary,
      registeredAt: existing?.site_code === ctx.config.code ? existing.registered_at : now,
      updatedAt: now,
    };
    await recordClient(trx, ctx.sink, record, input.publicKey);
  });
  ctx.log('mp').info({ client: id, address: placed.address, boundary: placed.boundary }, 'client registered');
  return placement(ctx, id, placed);
}

function placement(
  ctx: Pick<SiteContext, 'config'>,
  id: string,
  placed: { boundary: string; address: string },
): Placement {
  return { assigned: true, client: id, site: ctx.config.code, ...placed };
}

/** The key of a client registered at this site, to check its signatures with. */
export async function clientKey(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  id: string,
): Promise<string | undefined> {
  const row = await ctx.db
    .selectFrom('clients')
    .select('public_key')
    .where('id', '=', id)
    .where('site_code', '=', ctx.config.code)
    .executeTakeFirst();
  return row?.public_key ?? undefined;
}

/**
 * Places a registered client again from the address of its request; when it moved to another
 * boundary of this site its record follows (and goes up).
 */
async function placeAgain(ctx: Ctx, id: string, addressText: string) {
  const placed = await placeClient(ctx, addressText);
  if ('assigned' in placed) return placed;
  const now = ctx.clock.now();
  const seen = await ctx.db
    .selectFrom('clients')
    .select(['address', 'boundary', 'last_seen'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  if (seen.address === placed.address && seen.boundary === placed.boundary) {
    // A client polling every few seconds must not cost a synced write each time (that capped a
    // site at the disk's sync rate, bench/mp-policy.ts): when it was last seen is kept to the minute.
    if (now - seen.last_seen >= LAST_SEEN_STEP_MS)
      await ctx.db.updateTable('clients').set({ last_seen: now }).where('id', '=', id).execute();
    return placed;
  }
  await ctx.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    if (row.address === placed.address && row.boundary === placed.boundary) {
      await trx.updateTable('clients').set({ last_seen: now }).where('id', '=', id).execute();
      return;
    }
    await recordClient(
      trx,
      ctx.sink,
      {
        id,
        site: ctx.config.code,
        name: row.name,
        address: placed.address,
        boundary: placed.boundary,
        registeredAt: row.registered_at,
        updatedAt: now,
      },
      row.public_key ?? '',
    );
  });
  return placed;
}

/**
 * `GET /mp/v1/policy`: the deployments for this client (its site, its boundary or its id), each with
 * the program, the package's files and the DPs that hold its version: this site's first, then, only
 * when the deployment allows fallback, those of the sites above, nearest first.
 */
export async function clientPolicy(ctx: Ctx, id: string, address: string): Promise<Policy | Unassigned> {
  const placed = await placeAgain(ctx, id, address);
  if ('assigned' in placed) return placed;
  const who = { id, site: ctx.config.code, boundary: placed.boundary };
  const last = new Map(
    (
      await ctx.db
        .selectFrom('deployment_status')
        .select(['deployment_id', 'state', 'exit_code', 'updated_at'])
        .where('client_id', '=', id)
        .execute()
    ).map((r) => [r.deployment_id, { state: r.state, exitCode: r.exit_code, at: r.updated_at }]),
  );
  const deployments: PolicyDeployment[] = [];
  for (const d of await listDeployments(ctx.db)) {
    if (!targets(d, who)) continue;
    const pkg = await policyPackage(ctx, d.package);
    if (!pkg) continue;
    const own = pkg.dps.filter((dp) => dp.site === ctx.config.code);
    deployments.push({
      id: d.id,
      program: d.program,
      fallback: d.fallback,
      package: { id: pkg.id, name: pkg.name, sourceVersion: pkg.sourceVersion, files: pkg.files },
      dps: d.fallback ? pkg.dps : own,
      last: last.get(d.id) ?? null,
    });
  }
  return { ...placement(ctx, id, placed), deployments };
}

/**
 * `POST /mp/v1/status`: where a deployment stands on this client. Kept here (the newest report of
 * each client and deployment) and sent up to every ancestor through the status outbox.
 */
export async function reportClientStatus(ctx: Ctx, id: string, body: StatusBody) {
  const deployment = assertDeploymentId(body.deployment);
  const row = await ctx.db
    .selectFrom('deployments')
    .selectAll()
    .where('id', '=', deployment)
    .executeTakeFirst();
  if (!row)
    throw new OutpostError('OUTPOST_DEPLOYMENT_NOT_FOUND', `deployment ${deployment} is not known here`, {
      hint: 'ask for the policy again: it may have been deleted',
    });
  const client = await ctx.db
    .selectFrom('clients')
    .select('boundary')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  if (!targets(deploymentOf(row), { id, site: ctx.config.code, boundary: client.boundary }))
    throw new OutpostError('OUTPOST_BAD_INPUT', `deployment ${deployment} is not for client ${id}`, {
      hint: 'report only deployments of your policy',
    });
  const now = ctx.clock.now();
  const status = {
    deployment,
    package: row.package_id,
    client: id,
    site: ctx.config.code,
    state: body.state,
    exitCode: body.exitCode ?? null,
    output: body.output ?? null,
    updatedAt: now,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await setDeploymentStatus(trx, ctx.sink, status);
    await trx.updateTable('clients').set({ last_seen: now }).where('id', '=', id).execute();
  });
  ctx
    .log('mp')
    .info({ client: id, deployment, state: body.state, exitCode: status.exitCode }, 'client status');
  return { deployment, state: body.state, at: now };
}
