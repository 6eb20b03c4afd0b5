import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SiteContext } from '../core/index.js';
import type { Database } from '../db/index.js';
import { dpBaseUrl } from '../dp/index.js';
import { OutpostError } from '../errors/index.js';
import {
  type BoundaryRecord,
  type DeploymentRecord,
  type PolicyDp,
  type PolicyPackage,
  type PolicySnapshot,
  S2S,
  s2sJson,
} from '../s2s/index.js';
import { assertSiteCode } from '../sites/index.js';
import { allBoundaries, type Boundary, boundaryView } from './boundaries.js';
import { type DeploymentView, deploymentRow, listDeployments } from './deployments.js';
import { overlaps, parseRange } from './ranges.js';

type Db = Kysely<Database>;

/** As deep as a parent chain is followed: a loop in the sites table ends here. */
const MAX_DEPTH = 64;

/** For each site this site knows, the direct child it lies under (absent: this site, or not below it). */
async function hopsBelow(db: Db, self: string): Promise<Map<string, string>> {
  const rows = await db.selectFrom('sites').select(['code', 'parent_code', 'state']).execute();
  const parent = new Map(rows.filter((r) => r.state !== 'deleted').map((r) => [r.code, r.parent_code]));
  const hops = new Map<string, string>();
  for (const code of parent.keys()) {
    let at: string | null | undefined = code;
    for (let depth = 0; at && depth < MAX_DEPTH; depth++) {
      const up = parent.get(at);
      if (up === self) {
        hops.set(code, at);
        break;
      }
      at = up;
    }
  }
  return hops;
}

/** Where a DP of this site serves package `pkg`: the base its files' paths are appended to. */
async function dpUrls(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  pkg: string,
  version: number,
): Promise<PolicyDp[]> {
  const self = ctx.config.code;
  const rows = await ctx.db
    .selectFrom('package_status')
    .leftJoin('dps', 'dps.dp', 'package_status.dp')
    .select(['package_status.dp', 'dps.url'])
    .where('package_status.package_id', '=', pkg)
    .where('package_status.site_code', '=', self)
    .where('package_status.state', '=', 'Installed')
    .where('package_status.source_version', '=', version)
    .orderBy('package_status.dp')
    .execute();
  return rows.map((r) => ({
    dp: r.dp,
    site: self,
    url: `${dpBaseUrl(ctx.config.url, r.dp, r.url)}${encodeURIComponent(pkg)}/`,
  }));
}

/**
 * A deployed package as this site knows it: the newer of the version held here and the one the
 * parent described, its files, and the DPs that hold that version Installed — this site's first,
 * then those the parent named (its own and above), nearest first.
 */
export async function policyPackage(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  pkg: string,
): Promise<PolicyPackage | null> {
  const local = await ctx.db
    .selectFrom('packages')
    .select(['name', 'source_version'])
    .where('id', '=', pkg)
    .executeTakeFirst();
  const given = await ctx.db
    .selectFrom('policy_packages')
    .selectAll()
    .where('package_id', '=', pkg)
    .executeTakeFirst();
  if (!local && !given) return null;
  const fromAbove = given && (!local || given.source_version > local.source_version);
  const version = fromAbove ? given.source_version : (local?.source_version ?? 0);
  const files = fromAbove
    ? (JSON.parse(given.files) as PolicyPackage['files'])
    : await ctx.db
        .selectFrom('package_files')
        .select(['path', 'size', 'sha256'])
        .where('package_id', '=', pkg)
        .where('source_version', '=', version)
        .orderBy('path')
        .execute();
  const above = given && given.source_version === version ? (JSON.parse(given.dps) as PolicyDp[]) : [];
  return {
    id: pkg,
    name: (fromAbove ? given.name : local?.name) ?? pkg,
    sourceVersion: version,
    files,
    dps: [...(await dpUrls(ctx, pkg, version)), ...above],
  };
}

function boundaryRecord(b: Boundary): BoundaryRecord {
  const { family: _family, ...record } = boundaryView(b);
  return record;
}

function deploymentRecord(d: DeploymentView): DeploymentRecord {
  return {
    id: d.id,
    package: d.package,
    program: d.program,
    fallback: d.fallback,
    target: d.target,
    origin: d.origin,
    createdAt: d.createdAt,
  };
}

/**
 * What child `child` needs of what this site holds: the boundaries of the sites in its subtree and
 * every boundary overlapping one of them (so the most specific wins the same way there), the
 * deployments for sites, boundaries or clients of its subtree, and the packages they install.
 */
export async function snapshotFor(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  child: string,
  hops?: Map<string, string>,
): Promise<PolicySnapshot> {
  const hop = hops ?? (await hopsBelow(ctx.db, ctx.config.code));
  const below = (site: string) => hop.get(site) === child;
  const all = await allBoundaries(ctx.db);
  const own = all.filter((b) => below(b.site));
  const boundaries = all.filter((b) => below(b.site) || own.some((o) => overlaps(o, b)));
  const clientSites = new Map(
    (await ctx.db.selectFrom('clients').select(['id', 'site_code']).execute()).map((c) => [
      c.id,
      c.site_code,
    ]),
  );
  const deployments = (await listDeployments(ctx.db)).filter((d) =>
    d.target.values.some((v) =>
      d.target.kind === 'site'
        ? below(v)
        : d.target.kind === 'boundary'
          ? own.some((b) => b.name === v)
          : below(clientSites.get(v) ?? ''),
    ),
  );
  const packages: PolicyPackage[] = [];
  for (const id of [...new Set(deployments.map((d) => d.package))].sort()) {
    const p = await policyPackage(ctx, id);
    if (p) packages.push(p);
  }
  return {
    boundaries: boundaries.map(boundaryRecord),
    deployments: deployments.map(deploymentRecord),
    packages,
  };
}

const sentKey = (code: string) => `policy.sent.${code}`;

/**
 * mp, at a parent: gives each joined child the policy its subtree needs, whole, whenever it differs
 * from what that install of the child last acknowledged. Keyed by the child's generation, so a
 * replaced or re-added child gets it again without anyone asking.
 */
export async function pushPolicies(
  ctx: Pick<SiteContext, 'config' | 'db' | 'identity' | 'log'>,
): Promise<number> {
  const children = await ctx.db
    .selectFrom('sites')
    .innerJoin('addresses', 'addresses.site_code', 'sites.code')
    .select(['sites.code', 'sites.generation', 'addresses.url'])
    .where('sites.relation', '=', 'child')
    .where('sites.state', 'in', ['active', 'unreachable'])
    .execute();
  if (children.length === 0) return 0;
  const hops = await hopsBelow(ctx.db, ctx.config.code);
  // Each child on its own: one that cannot be reached does not hold up the others.
  const given = await Promise.all(
    children.map(async (child) => {
      const snapshot = await snapshotFor(ctx, child.code, hops);
      const mark = `${child.generation} ${createHash('sha256').update(JSON.stringify(snapshot)).digest('hex')}`;
      const sent = await ctx.db
        .selectFrom('kv')
        .select('value')
        .where('key', '=', sentKey(child.code))
        .executeTakeFirst();
      if (sent?.value === mark) return false;
      try {
        await s2sJson(ctx.identity, child.url, 'POST', S2S.policy, snapshot, AbortSignal.timeout(30_000));
      } catch (err) {
        ctx
          .log('mp')
          .warn({ peer: child.code, err: (err as Error).message }, 'could not give the policy to a child');
        return false;
      }
      await ctx.db
        .insertInto('kv')
        .values({ key: sentKey(child.code), value: mark })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: mark }))
        .execute();
      ctx.log('mp').info(
        {
          peer: child.code,
          boundaries: snapshot.boundaries.length,
          deployments: snapshot.deployments.length,
        },
        'policy given to a child',
      );
      return true;
    }),
  );
  return given.filter(Boolean).length;
}

/**
 * mp, at a child: what the parent gives replaces, in one transaction, every boundary, deployment and
 * package description this site holds from above; what was made here stays (a name made here wins
 * over the same name from above). Each record is checked before anything changes.
 */
export async function acceptPolicy(
  ctx: Pick<SiteContext, 'config' | 'db' | 'log' | 'wake'>,
  snapshot: PolicySnapshot,
): Promise<{ boundaries: number; deployments: number; packages: number }> {
  const self = ctx.config.code;
  const boundaries = snapshot.boundaries.map((b) => {
    assertSiteCode(b.site);
    return { record: b, range: parseRange(b.range) };
  });
  for (const d of snapshot.deployments)
    if (!/^[A-Z0-9]{3}D[0-9A-F]{5}$/.test(d.id))
      throw new OutpostError('OUTPOST_BAD_INPUT', `deployment id '${d.id}' is not of the form C01D00001`);
  const result = await ctx.db.transaction().execute(async (trx) => {
    const ownNames = new Set(
      (await trx.selectFrom('boundaries').select('name').where('origin_site', '=', self).execute()).map(
        (b) => b.name,
      ),
    );
    const before = (
      await trx.selectFrom('deployments').select('id').where('origin_site', '!=', self).execute()
    ).map((d) => d.id);
    await trx.deleteFrom('boundaries').where('origin_site', '!=', self).execute();
    let kept = 0;
    for (const { record, range } of boundaries) {
      if (record.origin === self || ownNames.has(record.name)) continue;
      await trx
        .insertInto('boundaries')
        .values({
          name: record.name,
          site_code: record.site,
          range: range.text,
          family: range.family,
          first_ip: range.firstHex,
          last_ip: range.lastHex,
          origin_site: record.origin,
          created_at: record.createdAt,
        })
        .execute();
      kept++;
    }
    await trx.deleteFrom('deployments').where('origin_site', '!=', self).execute();
    const given = snapshot.deployments.filter((d) => d.origin !== self);
    for (const d of given) await trx.insertInto('deployments').values(deploymentRow(d)).execute();
    const gone = before.filter((id) => !given.some((d) => d.id === id));
    if (gone.length) await trx.deleteFrom('deployment_status').where('deployment_id', 'in', gone).execute();
    await trx.deleteFrom('policy_packages').execute();
    for (const p of snapshot.packages)
      await trx
        .insertInto('policy_packages')
        .values({
          package_id: p.id,
          name: p.name,
          source_version: p.sourceVersion,
          files: JSON.stringify(p.files),
          dps: JSON.stringify(p.dps),
        })
        .execute();
    return { boundaries: kept, deployments: given.length, packages: snapshot.packages.length };
  });
  ctx.log('mp').info(result, 'policy received from the parent');
  // The sites below may need some of it.
  ctx.wake.notify('mp');
  return result;
}
