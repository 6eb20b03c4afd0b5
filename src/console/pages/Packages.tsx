import { useState } from 'react';
import { get, post } from '../api';
import { bytes, count, when } from '../format';
import { useAction, usePoll } from '../hooks';
import { ErrorLine, Loading, Section, State, Table } from '../parts';
import type { CloneResult, Dp, Package, PackageStatus } from '../types';

function DpSelect({
  id,
  label,
  dps,
  value,
  onChange,
}: {
  id: string;
  label: string;
  dps: Dp[];
  value: string;
  onChange: (dp: string) => void;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Choose a DP</option>
        {dps.map((d) => (
          <option key={d.dp} value={d.dp}>
            {d.dp}
          </option>
        ))}
      </select>
    </>
  );
}

/** `dp clone` with its dry run first: how many packages it would add, then the real thing. */
function CloneDp({ dps }: { dps: Dp[] }) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [preview, setPreview] = useState<CloneResult | null>(null);
  const [done, setDone] = useState<CloneResult | null>(null);
  const action = useAction();
  const changed = (f: () => void) => {
    f();
    setPreview(null);
    setDone(null);
  };
  return (
    <form
      className="grid-form"
      onSubmit={async (e) => {
        e.preventDefault();
        setDone(null);
        const r = await action.run(() => post<CloneResult>('/dps/clone', { from, to, dryRun: true }));
        if (r) setPreview(r);
      }}
    >
      <DpSelect
        id="clone-from"
        label="From DP"
        dps={dps}
        value={from}
        onChange={(v) => changed(() => setFrom(v))}
      />
      <DpSelect id="clone-to" label="To DP" dps={dps} value={to} onChange={(v) => changed(() => setTo(v))} />
      <div className="actions">
        <button type="submit" disabled={action.busy || !from || !to}>
          Preview clone
        </button>
      </div>
      {preview && !done && (
        <div className="confirm" data-testid="clone-preview">
          <p>
            Would assign {count(preview.added.length, 'package')} to {preview.to} (
            {bytes(preview.bytesMissing)} to send); {preview.already.length} already there
            {preview.skipped.length > 0 && `, ${preview.skipped.length} skipped (assigned at their origin)`}.
          </p>
          <button
            type="button"
            disabled={action.busy || preview.added.length === 0}
            onClick={async () => {
              const r = await action.run(() => post<CloneResult>('/dps/clone', { from, to }));
              if (r) setDone(r);
            }}
          >
            Clone {preview.from} to {preview.to}
          </button>
        </div>
      )}
      {done && (
        <p role="status">
          Assigned {count(done.added.length, 'package')} to {done.to}.
        </p>
      )}
      <ErrorLine error={action.error} />
    </form>
  );
}

/** Every package with its install count; a search; cloning a DP's assignments. */
export function PackagesPage() {
  const [search, setSearch] = useState('');
  const data = usePoll(async () => {
    const [packages, statuses, dps] = await Promise.all([
      get<Package[]>('/packages'),
      get<PackageStatus[]>('/status/packages'),
      get<Dp[]>('/dps'),
    ]);
    return { packages, statuses, dps };
  }, 'packages');
  const q = search.trim().toLowerCase();
  return (
    <>
      <h1>Packages</h1>
      <ErrorLine error={data.error} />
      <label htmlFor="package-search">Search packages</label>
      <input
        id="package-search"
        type="search"
        placeholder="ID or name"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      {!data.data ? (
        <Loading what="packages" />
      ) : (
        <>
          <Table columns={['ID', 'Name', 'Version', 'Size', 'Installed on']}>
            {data.data.packages
              .filter((p) => !q || p.id.toLowerCase().includes(q) || p.name.toLowerCase().includes(q))
              .map((p) => {
                const rows = data.data?.statuses.filter((s) => s.package === p.id) ?? [];
                const installed = rows.filter((s) => s.state === 'Installed').length;
                return (
                  <tr key={p.id} data-package={p.id}>
                    <td>
                      <a href={`#/packages/${p.id}`}>{p.id}</a>
                    </td>
                    <td>{p.name}</td>
                    <td>{p.sourceVersion}</td>
                    <td>{bytes(p.size)}</td>
                    <td>
                      {installed} of {count(rows.length, 'DP')}
                    </td>
                  </tr>
                );
              })}
          </Table>
          <Section title="Clone a DP's assignments" id="clone">
            <CloneDp dps={data.data.dps} />
          </Section>
        </>
      )}
    </>
  );
}

function StatusCell({ row }: { row: PackageStatus }) {
  const [open, setOpen] = useState(false);
  if (!row.error) return <State state={row.state} />;
  return (
    <>
      <button
        type="button"
        className="link"
        aria-expanded={open}
        title={row.error}
        onClick={() => setOpen((o) => !o)}
      >
        <State state={row.state} />
        <span className="sr-only"> (show the error)</span>
      </button>
      {open && <div className="small error-text">{row.error}</div>}
    </>
  );
}

function RedistributeButton({ pkg, dp, onDone }: { pkg: string; dp: string; onDone: () => void }) {
  const action = useAction();
  return (
    <>
      <button
        type="button"
        className="secondary"
        disabled={action.busy}
        aria-label={`Redistribute to ${dp}`}
        onClick={async () => {
          if (await action.run(() => post(`/packages/${pkg}/redistribute`, { dps: [dp] }))) onDone();
        }}
      >
        Redistribute
      </button>
      <ErrorLine error={action.error} />
    </>
  );
}

/** One package: its files, and its state on every DP of the hierarchy; assign, redistribute. */
export function PackagePage({ id }: { id: string }) {
  const data = usePoll(async () => {
    const [pkg, statuses, dps] = await Promise.all([
      get<Package>(`/packages/${id}`),
      get<PackageStatus[]>('/status/packages', { package: id }),
      get<Dp[]>('/dps'),
    ]);
    return { pkg, statuses, dps };
  }, `package-${id}`);
  const [dp, setDp] = useState('');
  const assign = useAction();
  if (!data.data)
    return (
      <>
        <h1>Package {id}</h1>
        {data.error ? <ErrorLine error={data.error} /> : <Loading what="the package" />}
      </>
    );
  const { pkg, statuses, dps } = data.data;
  return (
    <>
      <h1>
        {pkg.name} <span className="muted">{pkg.id}</span>
      </h1>
      <ErrorLine error={data.error} />
      <dl className="facts">
        <dt>Version</dt>
        <dd>{pkg.sourceVersion}</dd>
        <dt>Origin</dt>
        <dd>{pkg.origin}</dd>
        <dt>Size</dt>
        <dd>
          {bytes(pkg.size)} in {count(pkg.files.length, 'file')}
        </dd>
        <dt>Updated</dt>
        <dd>{when(pkg.updatedAt)}</dd>
      </dl>
      <Section title="Status on each DP" id="matrix">
        {statuses.length === 0 ? (
          <p className="muted">Not assigned to any DP.</p>
        ) : (
          <Table columns={['DP', 'Site', 'Version', 'State', 'Since', { label: 'Actions', hidden: true }]}>
            {statuses.map((s) => (
              <tr key={s.dp} data-dp={s.dp}>
                <th scope="row">{s.dp}</th>
                <td>
                  <a href={`#/sites/${s.site}`}>{s.site}</a>
                </td>
                <td>{s.sourceVersion}</td>
                <td data-testid={`state-${s.dp}`}>
                  <StatusCell row={s} />
                </td>
                <td className="small">{when(s.updatedAt)}</td>
                <td>
                  <RedistributeButton pkg={pkg.id} dp={s.dp} onDone={data.refresh} />
                </td>
              </tr>
            ))}
          </Table>
        )}
        <form
          className="actions"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await assign.run(() => post(`/packages/${pkg.id}/assign`, { dps: [dp] }))) data.refresh();
          }}
        >
          <DpSelect id="assign-dp" label="Assign to DP" dps={dps} value={dp} onChange={setDp} />
          <button type="submit" disabled={assign.busy || !dp}>
            Assign
          </button>
        </form>
        <ErrorLine error={assign.error} />
      </Section>
      <Section title="Files" id="files">
        <Table columns={['Path', 'Size', 'SHA-256']}>
          {pkg.files.map((f) => (
            <tr key={f.path}>
              <td>
                <code>{f.path}</code>
              </td>
              <td>{bytes(f.size)}</td>
              <td>
                <code className="small" title={f.sha256}>
                  {f.sha256.slice(0, 16)}…
                </code>
              </td>
            </tr>
          ))}
        </Table>
      </Section>
    </>
  );
}
