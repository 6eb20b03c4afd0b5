import pc from 'picocolors';

/** Where colour would go: a stream, or a stand-in that says whether it is a terminal. */
export interface ColourTarget {
  isTTY?: boolean;
}

/**
 * Whether to colour text written to `target`: never with NO_COLOR, always with FORCE_COLOR (other
 * than `0`), otherwise only on a terminal that is not `dumb`. picocolors' own default also turns
 * colour on whenever `CI` is set, which puts escape codes into piped output that scripts parse.
 */
export function colourOn(target: ColourTarget, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return target.isTTY === true && env.TERM !== 'dumb';
}

/** Colours for what goes to stdout. */
export const outColours = pc.createColors(colourOn(process.stdout));
/** Colours for what goes to stderr (errors and their hints). */
export const errColours = pc.createColors(colourOn(process.stderr));
/** Colours that are on or off as asked (a table follows the stream it is written to). */
export const colours = (enabled: boolean) => pc.createColors(enabled);
