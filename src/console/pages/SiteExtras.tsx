import { useState } from 'react';
import { api, get, post } from '../api';
import { useAction, usePoll } from '../hooks';
import { ErrorLine, Loading } from '../parts';
import type { Boundary, PurgeSummary } from '../types';

/** The site's boundaries (which client addresses it serves): list, add, delete. */
export function Boundaries({ code }: { code: string }) {
  const list = usePoll(() => get<Boundary[]>('/boundaries', { site: code }), `boundaries-${code}`);
  const [range, setRange] = useState('');
  const [name, setName] = useState('');
  const action = useAction();
  return (
    <>
      <ErrorLine error={list.error} />
      {!list.data ? (
        <Loading what="boundaries" />
      ) : list.data.length === 0 ? (
        <p className="muted">No boundaries.</p>
      ) : (
        <ul className="plain" aria-label={`Boundaries of ${code}`}>
          {list.data.map((b) => (
            <li key={b.name}>
              <code>{b.range}</code> {b.name !== b.range && <span className="muted">{b.name}</span>}{' '}
              <button
                type="button"
                className="secondary"
                disabled={action.busy}
                aria-label={`Delete boundary ${b.name}`}
                onClick={async () => {
                  if (await action.run(() => api('DELETE', `/boundaries/${encodeURIComponent(b.name)}`)))
                    list.refresh();
                }}
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="actions"
        onSubmit={async (e) => {
          e.preventDefault();
          const body = { site: code, range: range.trim(), ...(name.trim() ? { name: name.trim() } : {}) };
          if (await action.run(() => post('/boundaries', body))) {
            setRange('');
            setName('');
            list.refresh();
          }
        }}
      >
        <label htmlFor="boundary-range">Address range</label>
        <input
          id="boundary-range"
          placeholder="10.1.0.0/16"
          value={range}
          onChange={(e) => setRange(e.target.value)}
        />
        <label htmlFor="boundary-name">Name (optional)</label>
        <input id="boundary-name" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit" disabled={action.busy || !range.trim()}>
          Add boundary
        </button>
      </form>
      <ErrorLine error={action.error} />
    </>
  );
}

/** `site purge`: every trace of a deleted site, with the dry run's counts first. */
export function Purge({ code }: { code: string }) {
  const [preview, setPreview] = useState<PurgeSummary | null>(null);
  const [done, setDone] = useState<PurgeSummary | null>(null);
  const action = useAction();
  const counts = (s: PurgeSummary) =>
    Object.entries(s.removed)
      .filter(([, n]) => n > 0)
      .map(([what, n]) => `${n} ${what}`)
      .join(', ') || 'nothing';
  if (done)
    return (
      <p role="status">
        Purged {done.site}: removed {counts(done)}.
      </p>
    );
  return (
    <>
      <button
        type="button"
        className="secondary"
        disabled={action.busy}
        onClick={async () => {
          const s = await action.run(() =>
            api<PurgeSummary>('POST', `/sites/${code}/purge`, { query: { dryRun: true } }),
          );
          if (s) setPreview(s);
        }}
      >
        Purge {code}…
      </button>
      {preview && (
        <div className="confirm" data-testid="purge-summary">
          <p>Would remove {counts(preview)}.</p>
          <button
            type="button"
            className="danger"
            disabled={action.busy}
            onClick={async () => {
              const s = await action.run(() => api<PurgeSummary>('POST', `/sites/${code}/purge`));
              if (s) setDone(s);
            }}
          >
            Purge {code} now
          </button>
        </div>
      )}
      <ErrorLine error={action.error} />
    </>
  );
}
