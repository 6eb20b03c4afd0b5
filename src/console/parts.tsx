import type { ReactNode } from 'react';
import { tone } from './tone';

/** A state as a coloured badge; the word itself says it, for those who do not see the colour. */
export function State({ state, site = false }: { state: string; site?: boolean }) {
  // A site that is "active" is fine; a job that is "active" is busy.
  const t = site && state === 'active' ? 'ok' : tone(state);
  return <span className={`badge ${t}`}>{state}</span>;
}

/** The one-line reason of a failed call, read out by screen readers as it appears. */
export function ErrorLine({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error}
    </p>
  );
}

/** A titled part of a page. */
export function Section({ title, children, id }: { title: string; children: ReactNode; id?: string }) {
  const headingId = `${id ?? title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-heading`;
  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}

/** Shown while the first answer has not come. */
export function Loading({ what }: { what: string }) {
  return <p className="muted">Loading {what}…</p>;
}

/** A column of a Table: its heading, or one only screen readers read (a column of buttons). */
export type Column = string | { label: string; hidden?: boolean; className?: string };

/** A table that scrolls sideways on a narrow screen, with its column headings; `children` are its rows. */
export function Table({
  columns,
  className,
  caption,
  children,
}: {
  columns: Column[];
  className?: string;
  caption?: string;
  children: ReactNode;
}) {
  return (
    <div className="scroll">
      <table className={className}>
        {caption && <caption className="sr-only">{caption}</caption>}
        <thead>
          <tr>
            {columns.map((c) => {
              const col = typeof c === 'string' ? { label: c } : c;
              return (
                <th scope="col" key={col.label} className={col.className}>
                  {col.hidden ? <span className="sr-only">{col.label}</span> : col.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A labelled text box of a filter form. */
export function FilterField({
  id,
  label,
  value,
  onChange,
  placeholder,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  placeholder: string;
}) {
  return (
    <div>
      <label htmlFor={id}>{label}</label>
      <input id={id} value={value} onChange={(e) => onChange(e.target.value)} placeholder={placeholder} />
    </div>
  );
}
