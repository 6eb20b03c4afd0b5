import type { Selectable } from 'kysely';
import type { SiteContext } from '../core/index.js';
import type { AddressesTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { DEFAULT_ADDRESS } from '../sites/index.js';
import { parseSchedule } from './throttle.js';

/** How this site sends to one child, as scripts see it (`address list --json`). */
export interface AddressView {
  site: string;
  url: string;
  /** The rate limit in KiB/s (1024 bytes a second); null: none. */
  rateLimitKiBps: number | null;
  /** The same value under its first name, kept for scripts that read it. */
  rateLimitKbps: number | null;
  schedule: string | null;
  concurrency: number;
  retries: number;
  retryDelayMs: number;
  /** The settings that have their default value (a new address has all of them). */
  defaults: AddressSetting[];
}

export type AddressSetting = 'rateLimitKiBps' | 'schedule' | 'concurrency' | 'retries' | 'retryDelayMs';

/** What `address set` may change; an absent field stays as it is, `null` turns a limit off. */
export interface AddressChanges {
  rateLimitKiBps?: number | null;
  schedule?: string | null;
  concurrency?: number;
  retries?: number;
  retryDelayMs?: number;
}

function addressView(a: Selectable<AddressesTable>): AddressView {
  const values = {
    // Stored as KiB/s since the first release: the sender multiplies it by 1024.
    rateLimitKiBps: a.rate_limit_kbps,
    schedule: a.schedule,
    concurrency: a.concurrency,
    retries: a.retries,
    retryDelayMs: a.retry_delay_ms,
  };
  const defaults = { rateLimitKiBps: null, schedule: null, ...DEFAULT_ADDRESS };
  return {
    site: a.site_code,
    url: a.url,
    ...values,
    rateLimitKbps: values.rateLimitKiBps,
    defaults: (Object.keys(defaults) as AddressSetting[]).filter((k) => values[k] === defaults[k]),
  };
}

/** The addresses to this site's children, by child code. */
export async function listAddresses(ctx: Pick<SiteContext, 'db'>): Promise<AddressView[]> {
  const rows = await ctx.db.selectFrom('addresses').selectAll().orderBy('site_code').execute();
  return rows.map(addressView);
}

/** Changes the address to child `code` and nudges the sender, which applies it from its next job. */
export async function updateAddress(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'wake'>,
  code: string,
  c: AddressChanges,
): Promise<AddressView> {
  if (typeof c.schedule === 'string') parseSchedule(c.schedule);
  const existing = await ctx.db
    .selectFrom('addresses')
    .selectAll()
    .where('site_code', '=', code)
    .executeTakeFirst();
  if (!existing)
    throw new OutpostError(
      'OUTPOST_SITE_NOT_FOUND',
      `no address to ${code}: it is not a child of ${ctx.config.code}`,
    );
  const changes = {
    ...(c.rateLimitKiBps !== undefined ? { rate_limit_kbps: c.rateLimitKiBps } : {}),
    ...(c.schedule !== undefined ? { schedule: c.schedule } : {}),
    ...(c.concurrency !== undefined ? { concurrency: c.concurrency } : {}),
    ...(c.retries !== undefined ? { retries: c.retries } : {}),
    ...(c.retryDelayMs !== undefined ? { retry_delay_ms: c.retryDelayMs } : {}),
    updated_at: ctx.clock.now(),
  };
  await ctx.db.updateTable('addresses').set(changes).where('site_code', '=', code).execute();
  ctx.wake.notify('sender');
  return addressView({ ...existing, ...changes });
}

/**
 * Whether an address holds content back from the site's current generation: a rebuild holds it
 * for every generation but the old host's, so a new host that joined gets nothing before its preload.
 */
export function isHeld(holdGeneration: string | null, generation: string | null): boolean {
  return holdGeneration !== null && generation !== holdGeneration;
}

/**
 * Holds the content for child `code` to its generation `generation` (the old host keeps being
 * served; a new host waits), or with null releases the hold and nudges the sender. Returns
 * whether the site has an address to hold.
 */
export async function holdLink(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'wake'>,
  code: string,
  generation: string | null,
): Promise<boolean> {
  const r = await ctx.db
    .updateTable('addresses')
    .set({ hold_generation: generation, updated_at: ctx.clock.now() })
    .where('site_code', '=', code)
    .executeTakeFirst();
  if (generation === null) ctx.wake.notify('sender');
  return Number(r.numUpdatedRows) > 0;
}
