import type { SiteContext } from '../core/index.js';
import type { SiteRelation, SiteState } from '../db/index.js';

interface SiteRow {
  code: string;
  parent_code: string | null;
  relation: SiteRelation;
  state: SiteState;
}

/**
 * The site records read once per round: next hops (as `nextHop` in sites/ works them out, without a
 * query per site) and the children a round schedules for.
 */
export class SiteTree {
  private readonly rows: Map<string, SiteRow>;
  private readonly hops = new Map<string, string | null>();

  private constructor(
    readonly self: string,
    rows: SiteRow[],
  ) {
    this.rows = new Map(rows.map((r) => [r.code, r]));
  }

  static async read(db: SiteContext['db'], self: string): Promise<SiteTree> {
    const rows = await db.selectFrom('sites').select(['code', 'parent_code', 'relation', 'state']).execute();
    return new SiteTree(self, rows);
  }

  /** The child of this site on the way to `target`; null for this site, its parent, and unknown or deleted sites. */
  hop(target: string, includeDeleted = false): string | null {
    const key = `${includeDeleted ? '+' : ''}${target}`;
    const cached = this.hops.get(key);
    if (cached !== undefined) return cached;
    let code = target;
    let hop: string | null = null;
    for (let depth = 0; depth < 64 && code !== this.self; depth++) {
      const row = this.rows.get(code);
      if (!row || (row.state === 'deleted' && !includeDeleted) || !row.parent_code) break;
      if (row.parent_code === this.self) {
        hop = code;
        break;
      }
      code = row.parent_code;
    }
    this.hops.set(key, hop);
    return hop;
  }

  /** The children the scheduler works for: every child not deleted. */
  children(): string[] {
    return [...this.rows.values()]
      .filter((r) => r.relation === 'child' && r.state !== 'deleted')
      .map((r) => r.code);
  }

  isChild(code: string): boolean {
    const row = this.rows.get(code);
    return row?.relation === 'child' && row.state !== 'deleted';
  }

  /** How `code` relates to this site; undefined for a site it has no record of. */
  relation(code: string): SiteRelation | undefined {
    return this.rows.get(code)?.relation;
  }

  /** The sites whose DPs a child carries: itself and every site below it. */
  subtree(child: string): string[] {
    return [...this.rows.keys()].filter((code) => this.hop(code) === child);
  }
}
