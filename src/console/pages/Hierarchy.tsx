import { get } from '../api';
import { type Backlog, backlogBySite } from '../backlog';
import { ago, bytes, count } from '../format';
import { usePoll } from '../hooks';
import { ErrorLine, Loading, State, Table } from '../parts';
import { treeOrder } from '../tree';
import type { Job, SiteView } from '../types';

function BacklogCell({ b }: { b: Backlog | undefined }) {
  if (!b) return <span className="muted">none</span>;
  return (
    <>
      {count(b.jobs, 'job')}, {bytes(b.bytes)}
      {b.rate > 0 && <span className="muted"> at {bytes(b.rate)}/s</span>}
    </>
  );
}

/** The hierarchy at a glance: every site this one knows, in a tree, with its state and backlog. */
export function HierarchyPage() {
  const { data, error } = usePoll(async () => {
    const [self, sites, jobs] = await Promise.all([
      get<SiteView>('/site'),
      get<SiteView[]>('/sites'),
      get<Job[]>('/jobs'),
    ]);
    const all = sites.some((s) => s.code === self.code) ? sites : [self, ...sites];
    return { self, sites: all, backlog: backlogBySite(jobs) };
  }, 'hierarchy');
  return (
    <>
      <h1>Hierarchy</h1>
      <ErrorLine error={error} />
      {!data ? (
        <Loading what="the sites" />
      ) : (
        <Table
          columns={[
            'Site',
            'Type',
            'State',
            'Last contact',
            { label: 'Generation', className: 'hide-narrow' },
            'Backlog',
          ]}
          className="tree"
          caption={`Sites known at ${data.self.code}, each under its parent`}
        >
          {treeOrder(data.sites).map(({ site, depth }) => (
            <tr key={site.code} data-site={site.code} className={`depth-${Math.min(depth, 6)}`}>
              <th scope="row">
                <span className="indent" aria-hidden="true">
                  {depth > 0 ? '└ ' : ''}
                </span>
                <a href={`#/sites/${site.code}`}>{site.code}</a>
                {site.name && site.name !== site.code && <span className="muted"> {site.name}</span>}
                {site.code === data.self.code && <span className="muted"> (this site)</span>}
              </th>
              <td>{site.type}</td>
              <td>
                <State state={site.state} site />
                {site.error && <div className="small error-text">{site.error}</div>}
              </td>
              <td>{site.code === data.self.code ? 'now' : ago(site.lastContact)}</td>
              <td className="hide-narrow">
                <code className="small">{site.generation?.slice(0, 8) ?? '–'}</code>
              </td>
              <td>
                <BacklogCell b={data.backlog.get(site.code)} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
