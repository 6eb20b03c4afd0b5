import type { Report, SiteRecord } from '../src/status/index.js';

/** A child's report of the record of `code`, placed under `parent`. */
export function siteReport(
  code: string,
  parent: string | null,
  state: SiteRecord['state'],
  updatedAt: number,
): Report {
  return {
    kind: 'site',
    site: {
      code,
      type: 'secondary',
      parent,
      name: null,
      url: null,
      state,
      generation: null,
      lastContact: null,
      error: null,
      updatedAt,
    },
  };
}
