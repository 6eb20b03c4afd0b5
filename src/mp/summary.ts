import type { Kysely } from 'kysely';
import type { Database } from '../db/index.js';
import type { ClientState } from '../s2s/index.js';
import { allBoundaries } from './boundaries.js';
import { listDeployments, targets } from './deployments.js';

/** One client's last report of a deployment (`unknown`: it has not reported). */
export interface ClientReport {
  client: string;
  name: string | null;
  state: ClientState | 'unknown';
  exitCode: number | null;
  output: string | null;
  at: number | null;
}

/** `status deployments --json`: one row per deployment and site. */
export interface DeploymentSummary {
  deployment: string;
  package: string;
  site: string;
  succeeded: number;
  failed: number;
  inProgress: number;
  /** Clients the deployment targets at this site that have not reported. */
  unknown: number;
  clients: ClientReport[];
}

/**
 * Per deployment and site, how many targeted clients succeeded, failed, are in progress or have not
 * reported, with each client's last report. The clients and reports are those this site holds: its
 * own and what the sites below sent up. A report for a deployment not known here (made below) is
 * counted too.
 */
export async function summarizeDeployments(
  db: Kysely<Database>,
  filter: { site?: string; deployment?: string } = {},
): Promise<DeploymentSummary[]> {
  const deployments = (await listDeployments(db)).filter(
    (d) => !filter.deployment || d.id === filter.deployment,
  );
  const clients = await db.selectFrom('clients').select(['id', 'name', 'site_code', 'boundary']).execute();
  let q = db.selectFrom('deployment_status').selectAll();
  if (filter.deployment) q = q.where('deployment_id', '=', filter.deployment);
  const reports = await q.execute();
  const boundarySite = new Map((await allBoundaries(db)).map((b) => [b.name, b.site]));
  const rows = new Map<string, DeploymentSummary>();
  const rowFor = (deployment: string, pkg: string, site: string) => {
    const key = `${deployment}\0${site}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        deployment,
        package: pkg,
        site,
        succeeded: 0,
        failed: 0,
        inProgress: 0,
        unknown: 0,
        clients: [],
      };
      rows.set(key, row);
    }
    return row;
  };
  const nameOf = new Map(clients.map((c) => [c.id, c.name]));
  for (const d of deployments) {
    // A site or boundary targeted has a row even while none of its clients is known.
    for (const v of d.target.values) {
      const site =
        d.target.kind === 'site' ? v : d.target.kind === 'boundary' ? boundarySite.get(v) : undefined;
      if (site) rowFor(d.id, d.package, site);
    }
    const reported = new Set(reports.filter((r) => r.deployment_id === d.id).map((r) => r.client_id));
    for (const c of clients) {
      if (reported.has(c.id) || !targets(d, { id: c.id, site: c.site_code, boundary: c.boundary })) continue;
      const row = rowFor(d.id, d.package, c.site_code);
      row.unknown++;
      row.clients.push({
        client: c.id,
        name: c.name,
        state: 'unknown',
        exitCode: null,
        output: null,
        at: null,
      });
    }
  }
  for (const r of reports) {
    const row = rowFor(r.deployment_id, r.package_id, r.site_code);
    if (r.state === 'succeeded') row.succeeded++;
    else if (r.state === 'failed') row.failed++;
    else row.inProgress++;
    row.clients.push({
      client: r.client_id,
      name: nameOf.get(r.client_id) ?? null,
      state: r.state,
      exitCode: r.exit_code === null ? null : Number(r.exit_code),
      output: r.output,
      at: r.updated_at,
    });
  }
  return [...rows.values()]
    .filter((r) => !filter.site || r.site === filter.site)
    .sort((a, b) => a.deployment.localeCompare(b.deployment) || a.site.localeCompare(b.site))
    .map((r) => ({ ...r, clients: r.clients.sort((a, b) => a.client.localeCompare(b.client)) }));
}
