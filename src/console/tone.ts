const TROUBLE = new Set(['unreachable', 'failed', 'retrying', 'error']);
const BUSY = new Set(['pending', 'installing', 'active', 'running', 'waiting', 'warning']);
const GONE = new Set(['deleted', 'cancelled', 'aborted']);

/**
 * How a state reads at a glance: trouble in red, work under way in amber, done in green. Package
 * states are two words ("Install Retrying"): the second one says it.
 */
export function tone(state: string): 'trouble' | 'busy' | 'gone' | 'ok' {
  const word = state.toLowerCase().split(' ').pop() ?? '';
  if (TROUBLE.has(word)) return 'trouble';
  if (GONE.has(word)) return 'gone';
  if (BUSY.has(word)) return 'busy';
  return 'ok';
}
