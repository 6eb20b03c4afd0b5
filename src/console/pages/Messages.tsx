import { useState } from 'react';
import { get } from '../api';
import { when } from '../format';
import { usePoll } from '../hooks';
import { ErrorLine, FilterField, Loading, State, Table } from '../parts';
import { COMPONENTS, type StatusMessage } from '../types';

/** Status messages, newest first. */
export function MessageTable({ messages }: { messages: StatusMessage[] }) {
  if (messages.length === 0) return <p className="muted">No messages.</p>;
  return (
    <Table columns={['Time', 'Severity', 'Site', 'Component', 'Message']} className="messages">
      {messages.map((m) => (
        <tr key={m.id}>
          <td className="small nowrap">{when(m.time)}</td>
          <td>{m.severity === 'info' ? 'info' : <State state={m.severity} />}</td>
          <td>
            {m.site}
            {m.subject && m.subject !== m.site && <span className="muted"> about {m.subject}</span>}
          </td>
          <td>{m.component}</td>
          <td>
            {m.text}
            {m.package && <span className="muted small"> ({m.package})</span>}
          </td>
        </tr>
      ))}
    </Table>
  );
}

/** Every status message this site holds (its own and those sent up), filtered, followed live. */
export function MessagesPage() {
  const [site, setSite] = useState('');
  const [component, setComponent] = useState('');
  const [severity, setSeverity] = useState('');
  const [pkg, setPkg] = useState('');
  const filter = {
    site: site.trim().toUpperCase() || undefined,
    component: component || undefined,
    severity: severity || undefined,
    package: pkg.trim().toUpperCase() || undefined,
    limit: 200,
  };
  const messages = usePoll(() => get<StatusMessage[]>('/status/messages', filter), JSON.stringify(filter));
  return (
    <>
      <h1>Status messages</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <FilterField id="filter-site" label="Site" value={site} onChange={setSite} placeholder="e.g. S02" />
        <div>
          <label htmlFor="filter-component">Component</label>
          <select id="filter-component" value={component} onChange={(e) => setComponent(e.target.value)}>
            {['', ...COMPONENTS].map((c) => (
              <option key={c} value={c}>
                {c || 'any'}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="filter-severity">At least</label>
          <select id="filter-severity" value={severity} onChange={(e) => setSeverity(e.target.value)}>
            <option value="">info</option>
            <option value="warning">warning</option>
            <option value="error">error</option>
          </select>
        </div>
        <FilterField
          id="filter-package"
          label="Package"
          value={pkg}
          onChange={setPkg}
          placeholder="package ID"
        />
      </form>
      <p className="small muted" aria-live="off">
        Following live: the newest 200 messages, newest first.
      </p>
      <ErrorLine error={messages.error} />
      {messages.data ? <MessageTable messages={[...messages.data].reverse()} /> : <Loading what="messages" />}
    </>
  );
}
