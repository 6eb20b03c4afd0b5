import type { SiteView } from './types';

/** The sites in tree order (each after its parent), with their depth. */
export function treeOrder(sites: SiteView[]): { site: SiteView; depth: number }[] {
  const codes = new Set(sites.map((s) => s.code));
  const children = new Map<string | null, SiteView[]>();
  for (const s of sites) {
    const parent = s.parent !== null && codes.has(s.parent) ? s.parent : null;
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const out: { site: SiteView; depth: number }[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => a.code.localeCompare(b.code))) {
      out.push({ site: s, depth });
      walk(s.code, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}
