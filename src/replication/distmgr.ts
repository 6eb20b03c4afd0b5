import type { SiteContext } from '../core/index.js';
import { type ChildState, diffChild, type Target } from './diff.js';
import { collectGarbage, retireUnneeded } from './gc.js';
import { consumeMarks, type Mark, readMarks } from './marks.js';
import { syncOwnDps } from './owndp.js';
import { applyActions, type ChildActionAt, type Given, inChunks, readGiven } from './schedule.js';
import { SiteTree } from './tree.js';

type Ctx = Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store' | 'transfers' | 'wake'>;

/**
 * What a round looks at: everything, or only what the marks left since the last round name
 * (`changed`, which costs one small query when nothing changed).
 */
export type RoundScope = 'all' | 'changed';

/**
 * distmgr: compares what each child should hold (the package versions assigned to DPs in its
 * subtree) with what it was last given, and has the scheduler make a job for each difference. It
 * also installs or removes packages on this site's own DPs and frees content nothing needs.
 * Level-triggered: running it again with nothing changed does nothing. A `changed` round diffs
 * only the children and packages marked since (migration 0020's triggers); the marks it acted on
 * go once it is done, so a crash leaves them for the next round.
 */
export async function reconcile(ctx: Ctx, scope: RoundScope = 'all'): Promise<void> {
  const marks = await readMarks(ctx.db);
  if (scope === 'changed' && marks.length === 0) return;
  const now = ctx.clock.now();
  const tree = await SiteTree.read(ctx.db, ctx.config.code);
  const plan = scope === 'all' ? null : planOf(marks, tree);
  const { removed, retired } = plan
    ? await changedRound(ctx, tree, plan, now)
    : await fullRound(ctx, tree, now);
  if (removed || retired) {
    const freed = await collectGarbage(ctx);
    if (freed > 0) ctx.log('distmgr').info({ chunks: freed }, 'freed content no package needs');
  }
  await consumeMarks(ctx.db, marks);
  ctx.wake.notify('sender');
}

/**
 * The rounds of the server's distmgr loop: a full one first and every `fullEveryMs` (a safety net
 * for a change no trigger saw), and in between only what changed.
 */
export class DistmgrRounds {
  private lastFull: number | null = null;

  constructor(private readonly fullEveryMs = 5 * 60_000) {}

  async round(ctx: Ctx): Promise<void> {
    const now = ctx.clock.now();
    const full = this.lastFull === null || now - this.lastFull >= this.fullEveryMs;
    await reconcile(ctx, full ? 'all' : 'changed');
    if (full) this.lastFull = now;
  }
}

/** What the marks ask for: whole children, packages at every child, some packages at some children. */
interface Plan {
  children: Set<string>;
  packages: Set<string>;
  pairs: Map<string, Set<string>>;
  /** Every package of this site's own DPs. */
  ownDps: boolean;
}

/** The plan for `marks`, or null when only a full round will do. */
function planOf(marks: Mark[], tree: SiteTree): Plan | null {
  const plan: Plan = { children: new Set(), packages: new Set(), pairs: new Map(), ownDps: false };
  for (const { site_code: site, package_id: pkg } of marks) {
    if (!site) {
      if (!pkg) return null;
      plan.packages.add(pkg);
      continue;
    }
    if (site === tree.self) {
      if (pkg) plan.packages.add(pkg);
      else plan.ownDps = true;
      continue;
    }
    if (tree.relation(site) === 'parent') continue;
    // A deleted site's assignments are no longer routed through its child: that child is re-diffed.
    const child = tree.hop(site, true);
    // A site whose record is gone: which child carried it is not known any more.
    if (!child) return null;
    if (!pkg) plan.children.add(child);
    else plan.pairs.set(child, (plan.pairs.get(child) ?? new Set()).add(pkg));
  }
  return plan;
}

async function fullRound(ctx: Ctx, tree: SiteTree, now: number) {
  const wanted = await readWant(ctx, tree, 'all');
  const actions: ChildActionAt[] = [];
  for (const child of tree.children()) {
    const given = (await readGiven(ctx.db, { child })).get(child);
    actions.push(...diffAt(child, wanted.perChild.get(child), given));
  }
  await applyActions(ctx, actions, now);
  const removed = await syncOwnDps(ctx, wanted.ready, wanted.assignedHere);
  const retired = await retireUnneeded(ctx, [...wanted.assigned]);
  return { removed, retired };
}

async function changedRound(ctx: Ctx, tree: SiteTree, plan: Plan, now: number) {
  const actions: ChildActionAt[] = [];
  for (const child of plan.children) {
    if (!tree.isChild(child)) continue;
    const wanted = await readWant(ctx, tree, { sites: tree.subtree(child) });
    const given = (await readGiven(ctx.db, { child })).get(child);
    actions.push(...diffAt(child, wanted.perChild.get(child), given));
  }
  const packages = new Set(plan.packages);
  for (const [child, pkgs] of plan.pairs)
    if (!plan.children.has(child)) for (const p of pkgs) packages.add(p);
  const list = [...packages];
  const wanted = await readWant(ctx, tree, { packages: list });
  if (list.length > 0) {
    const given = await readGiven(ctx.db, { packages: list });
    for (const child of new Set([...wanted.perChild.keys(), ...given.keys()])) {
      if (plan.children.has(child) || !tree.isChild(child)) continue;
      const only = new Set([...plan.packages, ...(plan.pairs.get(child) ?? [])]);
      actions.push(...diffAt(child, wanted.perChild.get(child), given.get(child), only));
    }
  }
  await applyActions(ctx, actions, now);

  const own = plan.ownDps ? await readWant(ctx, tree, { sites: [tree.self] }) : wanted;
  const removed = await syncOwnDps(ctx, own.ready, own.assignedHere, plan.ownDps ? undefined : list);
  const retired = list.length > 0 && (await retireUnneeded(ctx, [...wanted.assigned], list));
  return { removed, retired };
}

/** The diff's actions for one child, limited to the packages in `only` if given. */
function diffAt(
  child: string,
  want: Map<string, Target> = new Map(),
  given: Given = { delivered: new Map(), open: [], failed: [] },
  only?: Set<string>,
): ChildActionAt[] {
  const state: ChildState = { want, ...given };
  const limited: ChildState = only
    ? {
        want: new Map([...state.want].filter(([p]) => only.has(p))),
        delivered: new Map([...state.delivered].filter(([p]) => only.has(p))),
        open: state.open.filter((j) => only.has(j.package ?? '')),
        failed: state.failed.filter((j) => only.has(j.package ?? '')),
      }
    : state;
  return diffChild(limited).map((action) => ({ child, action }));
}

/** What the assignments read ask of children and of this site's own DPs. */
interface Wanted {
  /** Per child: package → the version complete here and the DPs below the child it is for. */
  perChild: Map<string, Map<string, Target>>;
  /** Packages complete here and assigned to one of this site's own DPs. */
  ready: Set<string>;
  /** This site's own DPs → the packages assigned to each. */
  assignedHere: Map<string, Set<string>>;
  /** Every package with an assignment read. */
  assigned: Set<string>;
}

/**
 * Reads the assignments of every site, of some sites, or of some packages, and works out what
 * each child should hold. Only a package whose current version is complete here is passed on or
 * installed. Each package's DPs are listed in the database's order of `dp` (as they were when
 * delivered), so every package's rows come from one query.
 */
async function readWant(
  ctx: Pick<SiteContext, 'db'>,
  tree: SiteTree,
  scope: 'all' | { sites: string[] } | { packages: string[] },
): Promise<Wanted> {
  if (scope !== 'all' && 'sites' in scope && scope.sites.length > IN_LIMIT) return readWant(ctx, tree, 'all');
  const chunks: ('all' | { sites: string[] } | { packages: string[] })[] =
    scope === 'all' || 'sites' in scope
      ? [scope]
      : inChunks(scope.packages, IN_LIMIT).map((packages) => ({ packages }));
  const wanted: Wanted = {
    perChild: new Map(),
    ready: new Set(),
    assignedHere: new Map(),
    assigned: new Set(),
  };
  for (const chunk of chunks) {
    let query = ctx.db.selectFrom('assignments').select(['package_id', 'dp', 'site_code']).orderBy('dp');
    if (chunk !== 'all')
      query =
        'sites' in chunk
          ? query.where('site_code', 'in', chunk.sites)
          : query.where('package_id', 'in', chunk.packages);
    const assignments = await query.execute();
    const ids = [...new Set(assignments.map((a) => a.package_id))];
    const packages = new Map<string, { source_version: number; complete_version: number | null }>();
    for (const part of chunk === 'all' ? [null] : inChunks(ids, IN_LIMIT)) {
      let pq = ctx.db.selectFrom('packages').select(['id', 'source_version', 'complete_version']);
      if (part) pq = pq.where('id', 'in', part);
      for (const p of await pq.execute()) packages.set(p.id, p);
    }
    addWant(wanted, tree, assignments, packages);
  }
  return wanted;
}

const IN_LIMIT = 500;

function addWant(
  wanted: Wanted,
  tree: SiteTree,
  assignments: { package_id: string; site_code: string; dp: string }[],
  packages: Map<string, { source_version: number; complete_version: number | null }>,
): void {
  for (const a of assignments) {
    wanted.assigned.add(a.package_id);
    if (a.site_code === tree.self) {
      const here = wanted.assignedHere.get(a.dp) ?? new Set<string>();
      wanted.assignedHere.set(a.dp, here.add(a.package_id));
    }
    const pkg = packages.get(a.package_id);
    if (!pkg || pkg.complete_version !== pkg.source_version) continue;
    if (a.site_code === tree.self) {
      wanted.ready.add(a.package_id);
      continue;
    }
    const child = tree.hop(a.site_code);
    if (!child) continue;
    const want = wanted.perChild.get(child) ?? new Map<string, Target>();
    const target = want.get(a.package_id) ?? { version: pkg.source_version, dps: [] };
    target.dps.push(a.dp);
    want.set(a.package_id, target);
    wanted.perChild.set(child, want);
  }
}
