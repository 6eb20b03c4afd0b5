import type { Kysely } from 'kysely';
import type { Database, SiteRelation } from '../db/index.js';
import type { Report, SiteRecord } from './model.js';

interface KnownSite {
  parent: string | null;
  relation: SiteRelation;
  deleted: boolean;
}

/** As deep as a parent chain is followed (as in `nextHop`): a loop in forged records ends here. */
const MAX_DEPTH = 64;

/**
 * What a child may report on: its subtree, that is itself and every site whose chain of parents, as
 * this site's `sites` table has it, reaches the child. Each level checks again, so a forged report
 * that one parent let through is still refused above it.
 *
 * The scope follows the table while a batch is applied: a record of a new site below the child
 * admits reports about that site later in the same batch, and a purge forgets it.
 */
export class ReportScope {
  private constructor(
    private readonly self: string,
    private readonly child: string,
    private readonly sites: Map<string, KnownSite>,
  ) {}

  /** The scope of `child` as the sites table of `self` has it now. */
  static async load(db: Kysely<Database>, self: string, child: string): Promise<ReportScope> {
    const rows = await db.selectFrom('sites').select(['code', 'parent_code', 'relation', 'state']).execute();
    const sites = new Map(
      rows.map((r) => [
        r.code,
        { parent: r.parent_code, relation: r.relation, deleted: r.state === 'deleted' },
      ]),
    );
    return new ReportScope(self, child, sites);
  }

  /** Whether `code` is the child or lies below it. */
  private within(code: string): boolean {
    let at: string | null | undefined = code;
    for (let depth = 0; at && at !== this.self && depth < MAX_DEPTH; depth++) {
      if (at === this.child) return true;
      at = this.sites.get(at)?.parent;
    }
    return false;
  }

  private unknown(code: string): boolean {
    return code !== this.self && !this.sites.has(code);
  }

  /**
   * A site record is the child's to report when it places a site under the child's subtree and the
   * site is new here or already below the child. This site keeps the records of itself, its parent
   * and its children (the child's own record too: a parent watches its children and is the one
   * that says what state they are in). A deleted site's code is free anywhere in the hierarchy, so
   * its record may be taken over by the subtree that reuses the code.
   */
  private mayRecord(s: SiteRecord): boolean {
    if (s.parent === null || !this.within(s.parent)) return false;
    const known = this.sites.get(s.code);
    if (!known) return s.code !== this.self;
    return known.relation === 'descendant' && (known.deleted || this.within(s.code));
  }

  /**
   * The site outside the child's subtree that `report` speaks for, or null when it may be applied.
   * A message's `subject` is not checked: a child may say what another site did to it (a request
   * that claimed to be its parent and was refused).
   */
  outside(report: Report): string | null {
    switch (report.kind) {
      case 'message':
        return this.within(report.message.site) ? null : report.message.site;
      case 'package-status': {
        const dpSite = report.status.dp.split('/')[0];
        for (const code of [report.status.site, dpSite]) if (!this.within(code)) return code;
        return null;
      }
      case 'dp':
        // A named DP is its site's: `S02/NAME` may be reported only for S02, from S02's subtree.
        return this.within(report.dp.site) && report.dp.dp.startsWith(`${report.dp.site}/`)
          ? null
          : report.dp.site;
      case 'site':
        return this.mayRecord(report.site) ? null : report.site.code;
      // A client, and how a deployment went on it, belong to the site whose MP it registered at.
      case 'client':
        return this.within(report.client.site) ? null : report.client.site;
      case 'deployment-status':
        return this.within(report.status.site) ? null : report.status.site;
      case 'purge': {
        // An ancestor may still know a site this one has already purged (the purge that reached the
        // child went back up), so an unknown code passes; the ancestors check it against their own
        // tables. A child never purges itself: only its parent may.
        const { code } = report;
        return code !== this.child && (this.within(code) || this.unknown(code)) ? null : code;
      }
    }
  }

  /** Follows a site record that was applied. */
  place(s: SiteRecord): void {
    this.sites.set(s.code, { parent: s.parent, relation: 'descendant', deleted: s.state === 'deleted' });
  }

  /** Follows a purge that was applied. */
  forget(code: string): void {
    this.sites.delete(code);
  }
}
