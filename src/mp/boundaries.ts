import type { Kysely, Selectable } from 'kysely';
import type { SiteContext } from '../core/index.js';
import type { BoundariesTable, Database } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { assertSiteCode, nextHop } from '../sites/index.js';
import { postMessage } from '../status/index.js';
import { type IpRange, mostSpecific, overlaps, parseAddress, parseRange } from './ranges.js';

type Db = Kysely<Database>;

/** A boundary as `boundary list --json` shows it. */
export interface BoundaryView {
  name: string;
  site: string;
  range: string;
  family: 4 | 6;
  /** Where it was made: only there can it be deleted. */
  origin: string;
  createdAt: number;
}

/** A boundary with its range as numbers, for matching. */
export type Boundary = BoundaryView & IpRange;

function boundaryOf(r: Selectable<BoundariesTable>): Boundary {
  const family = Number(r.family) === 6 ? 6 : 4;
  return {
    name: r.name,
    site: r.site_code,
    range: r.range,
    family,
    origin: r.origin_site,
    createdAt: r.created_at,
    first: BigInt(`0x${r.first_ip}`),
    last: BigInt(`0x${r.last_ip}`),
  };
}

export function boundaryView(b: Boundary): BoundaryView {
  return {
    name: b.name,
    site: b.site,
    range: b.range,
    family: b.family,
    origin: b.origin,
    createdAt: b.createdAt,
  };
}

/** Every boundary this site holds: its own and those given from above. */
export async function allBoundaries(db: Db): Promise<Boundary[]> {
  return (await db.selectFrom('boundaries').selectAll().orderBy('name').execute()).map(boundaryOf);
}

/** `boundary list`: the boundaries this site holds, optionally only those of one site. */
export async function listBoundaries(db: Db, filter: { site?: string } = {}): Promise<BoundaryView[]> {
  return (await allBoundaries(db)).filter((b) => !filter.site || b.site === filter.site).map(boundaryView);
}

/** A boundary name: letters, digits and `. _ : / -`, 1 to 128 characters. */
export function assertBoundaryName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/.test(name))
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `boundary name '${name}' must be 1 to 128 letters, digits or . _ : / - (starting with a letter or digit)`,
    );
  return name;
}

/** Throws unless `code` is this site or a live site below it. */
export async function assertSiteAtOrBelow(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  code: string,
  what: string,
): Promise<void> {
  if (code === ctx.config.code) return;
  const row = await ctx.db.selectFrom('sites').select('state').where('code', '=', code).executeTakeFirst();
  if (!row || row.state === 'deleted')
    throw new OutpostError('OUTPOST_SITE_NOT_FOUND', `site ${code} is not known at ${ctx.config.code}`, {
      hint: 'outpost site list shows the sites this site knows',
    });
  if ((await nextHop(ctx.db, ctx.config.code, code)) === null)
    throw new OutpostError(
      'OUTPOST_WRONG_PARENT',
      `site ${code} is not ${ctx.config.code} or below it: ${what} is made at the site or one above it`,
      { hint: `run it at one of ${code}'s ancestors` },
    );
}

/**
 * `boundary add`: maps the clients in `range` (CIDR or FIRST-LAST, IPv4 or IPv6) to `site` (this site
 * or one below). Ranges may overlap; the most specific holds a client. The same range twice is
 * refused: neither would be more specific. The boundary goes down to the sites that need it.
 */
export async function addBoundary(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  input: { site: string; range: string; name?: string },
): Promise<BoundaryView> {
  const site = assertSiteCode(input.site);
  const range = parseRange(input.range);
  const name = assertBoundaryName(input.name ?? `${site}:${range.text}`);
  await assertSiteAtOrBelow(ctx, site, 'a boundary');
  const now = ctx.clock.now();
  const view = await ctx.db.transaction().execute(async (trx) => {
    const known = await allBoundaries(trx);
    if (known.some((b) => b.name === name))
      throw new OutpostError('OUTPOST_BOUNDARY_EXISTS', `boundary ${name} already exists`, {
        hint: 'pick another --name, or delete it first',
      });
    const same = known.find(
      (b) => b.family === range.family && b.first === range.first && b.last === range.last,
    );
    if (same)
      throw new OutpostError(
        'OUTPOST_BOUNDARY_EXISTS',
        `range ${range.text} is already boundary ${same.name} (site ${same.site})`,
        { hint: 'overlapping ranges are fine (the most specific wins); the same range twice is not' },
      );
    await trx
      .insertInto('boundaries')
      .values({
        name,
        site_code: site,
        range: range.text,
        family: range.family,
        first_ip: range.firstHex,
        last_ip: range.lastHex,
        origin_site: ctx.config.code,
        created_at: now,
      })
      .execute();
    const overlapping = known.filter((b) => overlaps(b, range)).map((b) => b.name);
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'mp',
      text: `boundary ${name} (${range.text}) added for site ${site}${overlapping.length ? `; it overlaps ${overlapping.join(', ')}` : ''}`,
      subject: site,
    });
    return { name, site, range: range.text, family: range.family, origin: ctx.config.code, createdAt: now };
  });
  ctx.wake.notify('mp');
  return view;
}

/** `boundary delete`: only at the site where it was made; the sites below drop it with the next policy. */
export async function deleteBoundary(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  nameText: string,
): Promise<BoundaryView> {
  const name = assertBoundaryName(nameText);
  const now = ctx.clock.now();
  const view = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('boundaries').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row)
      throw new OutpostError('OUTPOST_BOUNDARY_NOT_FOUND', `boundary ${name} is not known here`, {
        hint: 'outpost boundary list',
      });
    if (row.origin_site !== ctx.config.code)
      throw new OutpostError('OUTPOST_NOT_ORIGIN', `boundary ${name} is managed at ${row.origin_site}`, {
        hint: `delete it at ${row.origin_site}`,
      });
    await trx.deleteFrom('boundaries').where('name', '=', name).execute();
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'mp',
      text: `boundary ${name} (${row.range}) of site ${row.site_code} deleted`,
      subject: row.site_code,
    });
    return boundaryView(boundaryOf(row));
  });
  ctx.wake.notify('mp');
  return view;
}

/** The boundary that holds `address` among those this site knows (the most specific), or null. */
export async function placeAddress(db: Db, address: string): Promise<Boundary | null> {
  return mostSpecific(await allBoundaries(db), parseAddress(address));
}
