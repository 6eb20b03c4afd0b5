import type { Kysely, Selectable } from 'kysely';
import type { ClientsTable, Database, DeploymentStatusTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { assertClientId, type ClientState } from '../s2s/index.js';

/** A client's report of one deployment, as it last sent it. */
export interface ClientDeploymentReport {
  deployment: string;
  package: string;
  state: ClientState;
  exitCode: number | null;
  /** The tail of the program's output. */
  output: string | null;
  at: number;
}

/** One row of `client list --json`. */
export interface ClientView {
  id: string;
  site: string;
  name: string | null;
  address: string;
  boundary: string;
  registeredAt: number;
  /**
   * When this site last heard of the client: at its own site its last policy request (kept to the
   * minute); above, when its record last came up.
   */
  lastSeen: number;
  /** The most recent of its deployment reports; null before its first. */
  lastReport: ClientDeploymentReport | null;
}

/** `client show ID --json`: the client and every deployment report this site holds for it. */
export interface ClientDetail extends ClientView {
  reports: ClientDeploymentReport[];
}

type Db = Kysely<Database>;

function reportOf(r: Selectable<DeploymentStatusTable>): ClientDeploymentReport {
  return {
    deployment: r.deployment_id,
    package: r.package_id,
    state: r.state,
    exitCode: r.exit_code === null ? null : Number(r.exit_code),
    output: r.output,
    at: Number(r.updated_at),
  };
}

/** Newest first; two reports of one millisecond in a stable order. */
const newestFirst = (a: ClientDeploymentReport, b: ClientDeploymentReport) =>
  b.at - a.at || a.deployment.localeCompare(b.deployment);

function viewOf(c: Selectable<ClientsTable>, lastReport: ClientDeploymentReport | null): ClientView {
  return {
    id: c.id,
    site: c.site_code,
    name: c.name,
    address: c.address,
    boundary: c.boundary,
    registeredAt: Number(c.registered_at),
    lastSeen: Number(c.last_seen),
    lastReport,
  };
}

/**
 * The clients this site holds (its own and those the sites below reported up), each with its last
 * deployment report, optionally only those of one site.
 */
export async function listClients(db: Db, filter: { site?: string } = {}): Promise<ClientView[]> {
  let clients = db.selectFrom('clients').selectAll().orderBy('site_code').orderBy('id');
  let reports = db.selectFrom('deployment_status').selectAll();
  if (filter.site) {
    clients = clients.where('site_code', '=', filter.site);
    reports = reports.where('site_code', '=', filter.site);
  }
  const [rows, all] = await Promise.all([clients.execute(), reports.execute()]);
  const last = new Map<string, ClientDeploymentReport>();
  for (const r of all) {
    const report = reportOf(r);
    const held = last.get(r.client_id);
    if (!held || newestFirst(report, held) < 0) last.set(r.client_id, report);
  }
  return rows.map((c) => viewOf(c, last.get(c.id) ?? null));
}

/** One client with all its deployment reports, newest first. */
export async function showClient(db: Db, id: string): Promise<ClientDetail> {
  assertClientId(id);
  const [row, rows] = await Promise.all([
    db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst(),
    db.selectFrom('deployment_status').selectAll().where('client_id', '=', id).execute(),
  ]);
  if (!row)
    throw new OutpostError('OUTPOST_CLIENT_NOT_FOUND', `client ${id} is not known here`, {
      hint: 'outpost client list shows the clients this site holds',
    });
  const reports = rows.map(reportOf).sort(newestFirst);
  return { ...viewOf(row, reports[0] ?? null), reports };
}
