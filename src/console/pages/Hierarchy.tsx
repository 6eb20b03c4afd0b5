import { get } from '../api';
import { tallyPackages } from '../backlog';
import { ago, bytes, count } from '../format';
import { usePoll } from '../hooks';
import { ErrorLine, Loading, State, Table } from '../parts';
import { treeOrder } from '../tree';
import type { SiteSummary, SiteView } from '../types';

function BacklogCell({ row, isChild }: { row: SiteSummary | undefined; isChild: boolean }) {
  // A backlog is kept by a site's parent: only this site's own children have one here.
  if (!row || !isChild) return <span className="muted">–</span>;
  const b = row.backlog;
  if (b.jobs === 0) return <span className="muted">none</span>;
  return (
    <>
      {count(b.jobs, 'job')}, {bytes(b.bytes)}
      {b.rate !== null && b.rate > 0 && <span className="muted"> at {bytes(b.rate)}/s</span>}
    </>
  );
}

function PackagesCell({ row }: { row: SiteSummary | undefined }) {
  if (!row) return <span className="muted">–</span>;
  const t = tallyPackages(row.packages);
  if (t.installed + t.working + t.failed === 0) return <span className="muted">none</span>;
  return (
    <>
      {t.installed} installed
      {t.working > 0 && (
        <>
          , <State state={`${t.working} pending`} />
        </>
      )}
      {t.failed > 0 && (
        <>
          , <State state={`${t.failed} failed`} />
        </>
      )}
    </>
  );
}

/**
 * The hierarchy at a glance: every site this one knows, in a tree, with its state, its DPs'
 * packages and the backlog toward it (GET /status/summary for this site's subtree).
 */
export function HierarchyPage() {
  const { data, error } = usePoll(async () => {
    const [self, sites, summary] = await Promise.all([
      get<SiteView>('/site'),
      get<SiteView[]>('/sites'),
      get<SiteSummary[]>('/status/summary'),
    ]);
    const all = sites.some((s) => s.code === self.code) ? sites : [self, ...sites];
    return { self, sites: all, summary: new Map(summary.map((s) => [s.code, s])) };
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
            { label: 'Type', className: 'hide-narrow' },
            'State',
            'Last contact',
            { label: 'Generation', className: 'hide-narrow' },
            'Packages',
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
              <td className="hide-narrow">{site.type}</td>
              <td>
                <State state={site.state} site />
                {site.error && <div className="small error-text">{site.error}</div>}
              </td>
              <td>{site.code === data.self.code ? 'now' : ago(site.lastContact)}</td>
              <td className="hide-narrow">
                <code className="small">{site.generation?.slice(0, 8) ?? '–'}</code>
              </td>
              <td data-packages>
                <PackagesCell row={data.summary.get(site.code)} />
              </td>
              <td data-backlog>
                <BacklogCell row={data.summary.get(site.code)} isChild={site.parent === data.self.code} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
