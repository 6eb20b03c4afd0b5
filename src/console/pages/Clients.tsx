import { useState } from 'react';
import { get } from '../api';
import { ago, when } from '../format';
import { usePoll } from '../hooks';
import { ErrorLine, FilterField, Loading, Section, State, Table } from '../parts';
import type { ClientDeploymentReport, ClientDetail, ClientView } from '../types';

function ReportCell({ report }: { report: ClientDeploymentReport | null }) {
  if (!report) return <span className="muted">none yet</span>;
  return (
    <>
      {report.deployment} <State state={report.state} />
      {report.exitCode !== null && ` exit ${report.exitCode}`}{' '}
      <span className="muted small">{when(report.at)}</span>
    </>
  );
}

/** The clients this site holds (its own and those reported up from below), each with its last report. */
export function ClientsPage() {
  const [site, setSite] = useState('');
  const filter = { site: site.trim().toUpperCase() || undefined };
  const clients = usePoll(() => get<ClientView[]>('/clients', filter), JSON.stringify(filter));
  return (
    <>
      <h1>Clients</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <FilterField
          id="filter-client-site"
          label="Site"
          value={site}
          onChange={setSite}
          placeholder="e.g. S02"
        />
      </form>
      <ErrorLine error={clients.error} />
      {!clients.data ? (
        <Loading what="clients" />
      ) : clients.data.length === 0 ? (
        <p className="muted">
          No clients{filter.site ? ` of ${filter.site}` : ''}. A client registers when{' '}
          <code>outpost client run</code> first asks a management point.
        </p>
      ) : (
        <Table columns={['Client', 'Site', 'Address', 'Last seen', 'Last report']}>
          {clients.data.map((c) => (
            <tr key={c.id} data-client={c.id}>
              <th scope="row">
                <a href={`#/clients/${c.id}`}>{c.name ?? c.id}</a>
                {c.name && <div className="muted small">{c.id}</div>}
              </th>
              <td>
                <a href={`#/sites/${c.site}`}>{c.site}</a>
              </td>
              <td>
                <code className="small">{c.address}</code>
              </td>
              <td>{ago(c.lastSeen)}</td>
              <td>
                <ReportCell report={c.lastReport} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

/** One client: where it is, and every deployment report this site holds for it, with the program's output. */
export function ClientPage({ id }: { id: string }) {
  const client = usePoll(() => get<ClientDetail>(`/clients/${encodeURIComponent(id)}`), id);
  const c = client.data;
  return (
    <>
      <h1>Client {c?.name ?? id}</h1>
      <ErrorLine error={client.error} />
      {!c ? (
        <Loading what="the client" />
      ) : (
        <>
          <dl className="facts">
            <dt>Id</dt>
            <dd>
              <code>{c.id}</code>
            </dd>
            <dt>Site</dt>
            <dd>
              <a href={`#/sites/${c.site}`}>{c.site}</a>
            </dd>
            <dt>Address</dt>
            <dd>
              <code>{c.address}</code> in boundary {c.boundary}
            </dd>
            <dt>Registered</dt>
            <dd>{when(c.registeredAt)}</dd>
            <dt>Last seen</dt>
            <dd>{ago(c.lastSeen)}</dd>
          </dl>
          <Section title="Deployment reports">
            {c.reports.length === 0 ? (
              <p className="muted">No report yet.</p>
            ) : (
              <Table columns={['Deployment', 'Package', 'State', 'Exit code', 'When', 'Output']}>
                {c.reports.map((r) => (
                  <tr key={r.deployment} data-deployment={r.deployment}>
                    <td>{r.deployment}</td>
                    <td>
                      <a href={`#/packages/${r.package}`}>{r.package}</a>
                    </td>
                    <td>
                      <State state={r.state} />
                    </td>
                    <td>{r.exitCode ?? '–'}</td>
                    <td className="small nowrap">{when(r.at)}</td>
                    <td>
                      {r.output ? <pre className="output">{r.output}</pre> : <span className="muted">–</span>}
                    </td>
                  </tr>
                ))}
              </Table>
            )}
          </Section>
        </>
      )}
    </>
  );
}
