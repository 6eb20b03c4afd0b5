import { useState } from 'react';
import { api, get, post } from '../api';
import { OPEN_JOB_STATES } from '../backlog';
import { ago, bytes, count, duration, when } from '../format';
import { useAction, usePoll } from '../hooks';
import { ErrorLine, Loading, Section, State, Table } from '../parts';
import type { Address, DeleteSummary, Dp, Job, Rebuild, SiteView, StatusMessage } from '../types';
import { MessageTable } from './Messages';
import { Boundaries, Purge } from './SiteExtras';

function AddressForm({ address, onSaved }: { address: Address; onSaved: () => void }) {
  const [rate, setRate] = useState(address.rateLimitKiBps === null ? '' : String(address.rateLimitKiBps));
  const [schedule, setSchedule] = useState(address.schedule ?? '');
  const [concurrency, setConcurrency] = useState(String(address.concurrency));
  const [retries, setRetries] = useState(String(address.retries));
  const [retryDelay, setRetryDelay] = useState(`${Math.round(address.retryDelayMs / 1000)}s`);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  return (
    <form
      className="grid-form"
      onSubmit={async (e) => {
        e.preventDefault();
        setSaved(false);
        const done = await action.run(() =>
          api('PUT', `/addresses/${address.site}`, {
            body: {
              rateLimitKiBps: rate.trim() === '' ? null : Number(rate),
              schedule: schedule.trim() === '' ? null : schedule.trim(),
              concurrency: Number(concurrency),
              retries: Number(retries),
              retryDelay: retryDelay.trim(),
            },
          }),
        );
        if (done) {
          setSaved(true);
          onSaved();
        }
      }}
    >
      <label htmlFor="addr-rate">Rate limit (KiB/s, empty: none)</label>
      <input id="addr-rate" inputMode="numeric" value={rate} onChange={(e) => setRate(e.target.value)} />
      <label htmlFor="addr-schedule">Schedule (e.g. 22-06, empty: always)</label>
      <input id="addr-schedule" value={schedule} onChange={(e) => setSchedule(e.target.value)} />
      <label htmlFor="addr-concurrency">Concurrent jobs</label>
      <input
        id="addr-concurrency"
        inputMode="numeric"
        value={concurrency}
        onChange={(e) => setConcurrency(e.target.value)}
      />
      <label htmlFor="addr-retries">Retries</label>
      <input
        id="addr-retries"
        inputMode="numeric"
        value={retries}
        onChange={(e) => setRetries(e.target.value)}
      />
      <label htmlFor="addr-delay">Retry delay</label>
      <input id="addr-delay" value={retryDelay} onChange={(e) => setRetryDelay(e.target.value)} />
      <div className="actions">
        <button type="submit" disabled={action.busy}>
          Save address
        </button>
        {saved && <span role="status">Saved.</span>}
      </div>
      <ErrorLine error={action.error} />
    </form>
  );
}

function JobRow({ job, onDeleted }: { job: Job; onDeleted: () => void }) {
  const action = useAction();
  const open = OPEN_JOB_STATES.has(job.state);
  return (
    <tr data-job={job.id}>
      <td>
        <code className="small">{job.id.slice(0, 8)}</code>
        <div className="small muted">
          {job.kind}
          {job.package ? ` ${job.package}` : ''}
          {job.sourceVersion !== null ? ` v${job.sourceVersion}` : ''}
        </div>
      </td>
      <td>
        <State state={job.state} />
        {job.waiting && <div className="small muted">{job.waiting}</div>}
      </td>
      <td className="progress-cell">
        <progress
          max={Math.max(job.bytesTotal, 1)}
          value={job.bytesSent}
          aria-label={`Job ${job.id.slice(0, 8)} progress`}
        />
        <div className="small">
          {bytes(job.bytesSent)} of {bytes(job.bytesTotal)}
        </div>
      </td>
      <td>{job.rate ? `${bytes(job.rate)}/s` : '–'}</td>
      <td>{duration(job.etaSeconds)}</td>
      <td className="small">
        {job.lastError ? <span className="error-text">{job.lastError}</span> : '–'}
        {job.attempts > 1 && <div className="muted">attempt {job.attempts}</div>}
      </td>
      <td>
        {open && (
          <button
            type="button"
            className="secondary"
            disabled={action.busy}
            aria-label={`Delete job ${job.id.slice(0, 8)}`}
            onClick={async () => {
              if (await action.run(() => post('/jobs/delete', { site: job.site, job: job.id }))) onDeleted();
            }}
          >
            Delete
          </button>
        )}
        <ErrorLine error={action.error} />
      </td>
    </tr>
  );
}

function Jobs({ code }: { code: string }) {
  const jobs = usePoll(() => get<Job[]>('/jobs', { site: code }), `jobs-${code}`);
  const action = useAction();
  const [showDone, setShowDone] = useState(false);
  if (!jobs.data) return jobs.error ? <ErrorLine error={jobs.error} /> : <Loading what="jobs" />;
  const shown = jobs.data.filter((j) => showDone || OPEN_JOB_STATES.has(j.state));
  const open = jobs.data.filter((j) => OPEN_JOB_STATES.has(j.state)).length;
  return (
    <>
      <ErrorLine error={jobs.error} />
      <div className="actions">
        <span data-testid="open-jobs">{count(open, 'open job')}</span>
        <label className="inline">
          <input type="checkbox" checked={showDone} onChange={(e) => setShowDone(e.target.checked)} /> Show
          finished jobs
        </label>
        {open > 0 && (
          <button
            type="button"
            className="secondary"
            disabled={action.busy}
            onClick={async () => {
              if (await action.run(() => post('/jobs/delete', { site: code }))) jobs.refresh();
            }}
          >
            Delete all open jobs
          </button>
        )}
      </div>
      <ErrorLine error={action.error} />
      {shown.length === 0 ? (
        <p className="muted">No jobs to show.</p>
      ) : (
        <Table
          columns={[
            'Job',
            'State',
            'Progress',
            'Rate',
            'ETA',
            'Last error',
            { label: 'Actions', hidden: true },
          ]}
        >
          {shown.map((j) => (
            <JobRow key={j.id} job={j} onDeleted={jobs.refresh} />
          ))}
        </Table>
      )}
    </>
  );
}

function DeleteSite({ code, onDeleted }: { code: string; onDeleted: (result: DeleteSummary) => void }) {
  const [summary, setSummary] = useState<DeleteSummary | null>(null);
  const [typed, setTyped] = useState('');
  const action = useAction();
  return (
    <>
      <p>
        Deleting cancels every job to the site and those below it, drops its address, DP assignments and
        status, and tells the site to stop and remove itself.
      </p>
      <button
        type="button"
        className="danger"
        disabled={action.busy}
        onClick={async () => {
          const s = await action.run(() =>
            api<DeleteSummary>('DELETE', `/sites/${code}`, { query: { dryRun: true, recursive: true } }),
          );
          if (s) setSummary(s);
        }}
      >
        Delete site {code}…
      </button>
      {summary && (
        <div className="confirm" data-testid="delete-summary">
          <p>
            Would delete {summary.sites.join(', ')}: cancel {count(summary.jobs.length, 'job')} (
            {bytes(summary.bytesQueued)} queued), remove {count(summary.assignments.length, 'DP assignment')}{' '}
            and {count(summary.statuses, 'status row')}.
          </p>
          <label htmlFor="delete-confirm">Type the site code {code} to confirm</label>
          <input
            id="delete-confirm"
            autoComplete="off"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
          />
          <div className="actions">
            <button
              type="button"
              className="danger"
              disabled={action.busy || typed.trim() !== code}
              onClick={async () => {
                const s = await action.run(() =>
                  api<DeleteSummary>('DELETE', `/sites/${code}`, { query: { recursive: true } }),
                );
                if (s) onDeleted(s);
              }}
            >
              Delete {code} now
            </button>
            <button type="button" className="secondary" onClick={() => setSummary(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <ErrorLine error={action.error} />
    </>
  );
}

function RebuildPanel({ code }: { code: string }) {
  const rebuild = usePoll(async () => {
    try {
      return await get<Rebuild>(`/rebuilds/${code}`);
    } catch (err) {
      // No rebuild of this site yet: the start form shows instead.
      if ((err as { status?: number }).status === 404) return null;
      throw err;
    }
  }, `rebuild-${code}`);
  const [path, setPath] = useState('replace');
  const action = useAction();
  const r = rebuild.data;
  return (
    <>
      <ErrorLine error={rebuild.error} />
      {r === undefined ? (
        <Loading what="the rebuild" />
      ) : r === null || r.state === 'done' || r.state === 'aborted' ? (
        <form
          className="actions"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await action.run(() => post(`/rebuilds/${code}`, { path }))) rebuild.refresh();
          }}
        >
          <label htmlFor="rebuild-path">Path</label>
          <select id="rebuild-path" value={path} onChange={(e) => setPath(e.target.value)}>
            <option value="replace">replace (same site, new host)</option>
            <option value="readd">readd (delete and add again)</option>
          </select>
          <button type="submit" disabled={action.busy}>
            Start rebuild of {code}
          </button>
        </form>
      ) : null}
      {r && (
        <>
          <p>
            Rebuild <State state={r.state} /> {r.next && <span>Next: {r.next}</span>}
          </p>
          {r.joinToken && (
            <p className="small">
              Join token for the new host: <code className="wrap">{r.joinToken}</code>
            </p>
          )}
          <ol className="steps" aria-label="Rebuild steps">
            {r.steps.map((s) => (
              <li key={s.step} data-step={s.step}>
                <State state={s.state} /> <strong>{s.step}</strong>{' '}
                <span className="muted">
                  ({s.frame}, {s.kind})
                </span>{' '}
                {s.title}
                {s.detail && <div className="small">{s.detail}</div>}
                {s.error && <div className="small error-text">{s.error}</div>}
                {s.kind === 'manual' && s.state !== 'done' && r.state !== 'done' && r.state !== 'aborted' && (
                  <button
                    type="button"
                    className="secondary"
                    disabled={action.busy}
                    onClick={async () => {
                      if (await action.run(() => post(`/rebuilds/${code}/resume`, { done: [s.step] })))
                        rebuild.refresh();
                    }}
                  >
                    Mark {s.step} done and resume
                  </button>
                )}
              </li>
            ))}
          </ol>
          {r.state !== 'done' && r.state !== 'aborted' && (
            <div className="actions">
              <button
                type="button"
                disabled={action.busy}
                onClick={async () => {
                  if (await action.run(() => post(`/rebuilds/${code}/resume`, {}))) rebuild.refresh();
                }}
              >
                Resume
              </button>
              <button
                type="button"
                className="secondary"
                disabled={action.busy}
                onClick={async () => {
                  if (await action.run(() => post(`/rebuilds/${code}/abort`, {}))) rebuild.refresh();
                }}
              >
                Abort
              </button>
            </div>
          )}
        </>
      )}
      <ErrorLine error={action.error} />
    </>
  );
}

/** One site: its settings, DPs, jobs, messages, and the work on it (delete, rebuild). */
export function SitePage({ code }: { code: string }) {
  const info = usePoll(async () => {
    const [self, site, addresses, dps] = await Promise.all([
      get<SiteView>('/site'),
      get<SiteView>(`/sites/${code}`),
      get<Address[]>('/addresses'),
      get<Dp[]>('/dps', { site: code }),
    ]);
    return { self: self.code, site, address: addresses.find((a) => a.site === code), dps };
  }, `site-${code}`);
  const messages = usePoll(
    () => get<StatusMessage[]>('/status/messages', { site: code, limit: 20 }),
    `site-messages-${code}`,
  );
  // Kept here, not in the delete form: the next poll sees the site deleted and removes the form,
  // often before the delete's answer (which waits for the site to be told) has come back.
  const [deleted, setDeleted] = useState<DeleteSummary | null>(null);
  if (!info.data)
    return (
      <>
        <h1>Site {code}</h1>
        {info.error ? <ErrorLine error={info.error} /> : <Loading what="the site" />}
      </>
    );
  const { site, address, dps, self } = info.data;
  const isSelf = site.code === self;
  return (
    <>
      <h1>
        Site {site.code} <State state={site.state} site />
      </h1>
      <ErrorLine error={info.error} />
      <dl className="facts">
        <dt>Type</dt>
        <dd>{site.type}</dd>
        <dt>Parent</dt>
        <dd>{site.parent ? <a href={`#/sites/${site.parent}`}>{site.parent}</a> : '–'}</dd>
        <dt>URL</dt>
        <dd>
          <code>{site.url ?? '–'}</code>
        </dd>
        <dt>Last contact</dt>
        <dd>{isSelf ? 'now' : ago(site.lastContact)}</dd>
        <dt>Generation</dt>
        <dd>
          <code className="wrap">{site.generation ?? '–'}</code>
        </dd>
        {site.error && (
          <>
            <dt>Error</dt>
            <dd className="error-text">{site.error}</dd>
          </>
        )}
      </dl>
      {site.phases && site.phases.length > 0 && (
        <Section title="Install phases" id="phases">
          <ol className="timeline">
            {site.phases.map((p) => (
              <li key={p.name}>
                <State state={p.state} /> {p.name} <span className="muted small">{when(p.at)}</span>
                {p.error && <div className="small error-text">{p.error}</div>}
              </li>
            ))}
          </ol>
        </Section>
      )}
      {address && (
        <Section title="Address" id="address">
          <p className="small muted">
            How this site sends to {site.code} at <code>{address.url}</code>.
          </p>
          <AddressForm key={address.site} address={address} onSaved={info.refresh} />
        </Section>
      )}
      <Section title="Distribution points" id="dps">
        {dps.length === 0 ? (
          <p className="muted">No DPs.</p>
        ) : (
          <Table columns={['DP', 'URL', 'Packages installed']}>
            {dps.map((d) => (
              <tr key={d.dp}>
                <td>{d.dp}</td>
                <td className="small">
                  <code>{d.url ?? '–'}</code>
                </td>
                <td>
                  {d.installed} of {d.packages}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Section>
      {!isSelf && (
        <Section title="Jobs" id="jobs">
          <Jobs code={site.code} />
        </Section>
      )}
      <Section title="Recent status messages" id="site-messages">
        <ErrorLine error={messages.error} />
        {messages.data ? (
          <MessageTable messages={[...messages.data].reverse()} />
        ) : (
          <Loading what="messages" />
        )}
      </Section>
      {site.state !== 'deleted' && (
        <Section title="Boundaries" id="boundaries">
          <Boundaries code={site.code} />
        </Section>
      )}
      {deleted?.site === code && (
        <p role="status">
          Site {deleted.site} deleted: {count(deleted.jobs.length, 'job')} cancelled. {deleted.told}
        </p>
      )}
      {site.state === 'deleted' && (
        <Section title="Purge" id="purge">
          <p>The site is deleted; purging removes every record of it here and above.</p>
          <Purge code={site.code} />
        </Section>
      )}
      {!isSelf && site.state !== 'deleted' && deleted?.site !== code && (
        <>
          <Section title="Rebuild or replace hardware" id="rebuild">
            <RebuildPanel code={site.code} />
          </Section>
          <Section title="Delete site" id="delete">
            <DeleteSite code={site.code} onDeleted={setDeleted} />
          </Section>
        </>
      )}
    </>
  );
}
