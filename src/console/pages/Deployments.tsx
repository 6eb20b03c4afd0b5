import { get } from '../api';
import { when } from '../format';
import { usePoll } from '../hooks';
import { ErrorLine, Loading, State } from '../parts';
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
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Package</th>
                <th scope="col">Site</th>
                <th scope="col">Succeeded</th>
                <th scope="col">Failed</th>
                <th scope="col">In progress</th>
                <th scope="col">Not reported</th>
                <th scope="col">Clients</th>
              </tr>
            </thead>
            <tbody>
              {data.data.map((d) => (
                <tr key={`${d.deployment}-${d.site}`}>
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
                      <summary>
                        {d.clients.length} client{d.clients.length === 1 ? '' : 's'}
                      </summary>
                      <ul className="plain">
                        {d.clients.map((c) => (
                          <li key={c.client}>
                            {c.name ?? c.client}: {c.state}
                            {c.exitCode !== null && ` (exit ${c.exitCode})`}{' '}
                            <span className="muted small">{when(c.at)}</span>
                          </li>
                        ))}
                      </ul>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
