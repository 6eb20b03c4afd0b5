import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { SiteView } from '../sites/index.js';
import { SITE_COLUMNS } from './commands/sites.js';
import { formatEta, printRows, renderTable, setOutputFormat, type TableOutput } from './output.js';

// Rows such as a central site shows after a failed join, printed with the columns of `site list`.
const site = (code: string, type: SiteView['type'], parent: string | null, url: string): SiteView => ({
  code,
  type,
  parent,
  name: null,
  url,
  state: 'active',
  generation: 'g1',
  lastContact: null,
  error: null,
  updatedAt: 0,
  relation: 'child',
});
const rows: SiteView[] = [
  {
    ...site('C01', 'central', null, 'http://127.0.0.1:8470'),
    lastContact: Date.UTC(2026, 10, 23, 11, 44, 56),
  },
  {
    ...site('P01', 'primary', 'C01', 'http://10.20.30.40:8470'),
    lastContact: Date.UTC(2026, 10, 23, 11, 45, 1),
  },
  {
    ...site('S02', 'secondary', 'P01', 'http://branch-office-0042.example.internal:8471'),
    state: 'failed',
    error: 'phase schema failed: the join did not finish within 10m (last heard from the site at 11:02)',
  },
];

/** Prints the table through printRows, as `site list` does, to a stand-in for stdout. */
function render(out: Omit<TableOutput, 'write'>): string {
  let text = '';
  printRows(false, rows, SITE_COLUMNS, { ...out, write: (s: string) => (text += s) });
  return stripVTControlCharacters(text);
}

describe('tables', () => {
  afterEach(() => setOutputFormat(undefined));

  it('fit an 80-column terminal: a frame, no lines between rows, long cells cut with an ellipsis', () => {
    const text = render({ isTTY: true, columns: 80 });
    expect(text).toMatchInlineSnapshot(`
      "┌──────┬───────────┬────────┬────────┬────────────────────┬────────────────────┐
      │ code │ type      │ parent │ state  │ last contact       │ error              │
      ├──────┼───────────┼────────┼────────┼────────────────────┼────────────────────┤
      │ C01  │ central   │        │ active │ 2026-11-23 11:44:… │                    │
      │ P01  │ primary   │ C01    │ active │ 2026-11-23 11:45:… │                    │
      │ S02  │ secondary │ P01    │ failed │                    │ phase schema fail… │
      └──────┴───────────┴────────┴────────┴────────────────────┴────────────────────┘
      "
    `);
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
  });

  it('are plain aligned columns, uncut, when stdout is not a terminal', () => {
    const text = render({ isTTY: false });
    expect(text).toMatchInlineSnapshot(`
      "code  type       parent  state   last contact          error
      C01   central            active  2026-11-23 11:44:56Z
      P01   primary    C01     active  2026-11-23 11:45:01Z
      S02   secondary  P01     failed                        phase schema failed: the join did not finish within 10m (last heard from the site at 11:02)
      "
    `);
    expect(text).not.toMatch(/[─│┌┐└┘├┤┬┴┼]/);
  });

  it('show every column uncut with -o wide, even on a narrow terminal', () => {
    setOutputFormat('wide');
    const text = render({ isTTY: true, columns: 80 });
    expect(text).toContain('│ url');
    expect(text).toContain('http://branch-office-0042.example.internal:8471');
    expect(text).toContain(rows[2].error);
    expect(text).not.toContain('…');
  });

  it('print one identifier per row with -o name: the full id where rows have one', () => {
    setOutputFormat('name');
    expect(render({ isTTY: true, columns: 80 })).toBe('C01\nP01\nS02\n');
    let text = '';
    const jobs = [{ id: '274f5a34-0000-4000-8000-000000000001', site: 'S02' }];
    printRows(false, jobs, [['id', (r) => r.id.slice(0, 8)]], { write: (s: string) => (text += s) });
    expect(text).toBe('274f5a34-0000-4000-8000-000000000001\n');
  });

  it('align coloured cells by their visible width', () => {
    const green = '\u001b[32mactive\u001b[39m';
    const text = renderTable(
      ['state', 'x'],
      [
        [green, '1'],
        ['failed', '2'],
      ],
      { boxed: false },
    );
    const lines = stripVTControlCharacters(text).split('\n');
    expect(lines[1].indexOf('1')).toBe(lines[2].indexOf('2'));
  });
});

describe('formatEta', () => {
  it('reads as seconds, minutes and seconds, or hours and minutes', () => {
    expect([0, 42, 60, 185, 3600, 3725, 90_000].map(formatEta)).toEqual([
      '0s',
      '42s',
      '1m00s',
      '3m05s',
      '1h00m',
      '1h02m',
      '25h00m',
    ]);
  });
});
