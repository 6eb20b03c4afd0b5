import type { RebuildCheck, RebuildPlan, RebuildRequest, RebuildView } from '../rebuild/index.js';
import type { AdminClient } from './client.js';

const at = (code: string, tail = '') => `/rebuilds/${encodeURIComponent(code)}${tail}`;

/** The rebuild runbook's admin API (`/api/v1/rebuilds/CODE…`), typed. */
export function rebuildApi(client: AdminClient) {
  return {
    plan: (code: string, options: RebuildRequest) => client.post<RebuildPlan>(at(code, '/plan'), options),
    start: (code: string, options: RebuildRequest) => client.post<RebuildView>(at(code), options),
    status: (code: string) => client.get<RebuildView>(at(code)),
    resume: (code: string, done: string[] = []) => client.post<RebuildView>(at(code, '/resume'), { done }),
    check: (code: string, redistribute = false) =>
      client.post<RebuildCheck>(at(code, '/check'), { redistribute }),
    abort: (code: string) => client.post<RebuildView>(at(code, '/abort'), {}),
  };
}
