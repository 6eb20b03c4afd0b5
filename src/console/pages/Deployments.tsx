import { get } from '../api';
import { count, when } from '../format';
import { usePoll } from '../hooks';
import { ErrorLine, Loading, State, Table } from '../parts';
import type { DeploymentSummary } from '../types';

/** Per deployment and site: how many clients succeeded, failed, are under way or silent, and each client's last report. */
export function DeploymentsPage() {
  const data = usePoll(() => get<DeploymentSummary[]>('/status/deployments'), 'deployments');
  return (
    <>
      <h1>Deployments</h1>
      <ErrorLine error={data.error} />
      {!data.data ? (
        <Loading what="deployments" />
      ) : data.data.length === 0 ? (
        <p className="muted">
          No deployments. Create one with <code>outpost deployment create</code>.
        </p>
      ) : (
        <Table
          columns={[
            'Deployment',
            'Package',
            'Site',
            'Succeeded',
            'Failed',
            'In progress',
            'Not reported',
            'Clients',
          ]}
        >
          {data.data.map((d) => (
            <tr key={`${d.deployment}-${d.site}`} data-deployment={`${d.deployment}-${d.site}`}>
              <td>{d.deployment}</td>
              <td>
                <a href={`#/packages/${d.package}`}>{d.package}</a>
              </td>
              <td>{d.site}</td>
              <td>{d.succeeded}</td>
              <td>
                {d.failed > 0 ? <State state="failed" /> : null} {d.failed}
              </td>
              <td>{d.inProgress}</td>
              <td>{d.unknown}</td>
              <td>
                <details>
                  <summary>{count(d.clients.length, 'client')}</summary>
                  <ul className="plain">
                    {d.clients.map((c) => (
                      <li key={c.client}>
                        <a href={`#/clients/${c.client}`}>{c.name ?? c.client}</a>: {c.state}
                        {c.exitCode !== null && ` (exit ${c.exitCode})`}{' '}
                        <span className="muted small">{when(c.at)}</span>
                      </li>
                    ))}
                  </ul>
                </details>
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
