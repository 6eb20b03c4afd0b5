import { describe, expect, it } from 'vitest';
import { colourOn } from './colour.js';

describe('colour', () => {
  it('stays off in piped output even where CI is set (picocolors alone would turn it on)', () => {
    expect(colourOn({ isTTY: false }, { CI: 'true' })).toBe(false);
    expect(colourOn({}, { CI: '1', TERM: 'xterm' })).toBe(false);
  });

  it('is on for a terminal, off for a dumb one or with NO_COLOR, forced by FORCE_COLOR', () => {
    expect(colourOn({ isTTY: true }, { TERM: 'xterm-256color' })).toBe(true);
    expect(colourOn({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colourOn({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourOn({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourOn({ isTTY: false }, { FORCE_COLOR: '0' })).toBe(false);
  });
});
