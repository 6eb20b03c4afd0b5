import { OutpostError } from '../errors/index.js';

const PREFIX = /^[0-9a-f-]{4,36}$/;

/**
 * Checks an id, or the start of one, as an administrator types it (tables show 8 characters):
 * hex digits and dashes, at least 4 of them. Returned in lower case, safe inside a LIKE pattern.
 */
export function assertIdPrefix(prefix: string, what: string): string {
  const p = prefix.toLowerCase();
  if (!PREFIX.test(p))
    throw new OutpostError('OUTPOST_BAD_INPUT', `'${prefix}' is not a ${what} id or the start of one`, {
      hint: 'give at least 4 of its characters, as tables show them',
    });
  return p;
}

/**
 * The one id a prefix names, from the distinct ids that start with it (as git resolves a short
 * hash): none is not found, more than one is ambiguous.
 */
export function oneMatch(prefix: string, matches: readonly string[], what: string, where = ''): string {
  const distinct = [...new Set(matches)];
  if (distinct.length === 1) return distinct[0];
  if (distinct.length === 0)
    throw new OutpostError('OUTPOST_NOT_FOUND', `no ${what}${where} has an id starting with ${prefix}`);
  throw new OutpostError(
    'OUTPOST_BAD_INPUT',
    `${what} id ${prefix} is ambiguous: it starts ${distinct.map((id) => id.slice(0, 13)).join(', ')}`,
    { hint: 'give more of its characters' },
  );
}
