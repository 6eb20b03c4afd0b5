import type { Selectable } from 'kysely';
import type { SiteContext } from '../core/index.js';
import type { AddressesTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { parseSchedule } from './throttle.js';

/** How this site sends to one child, as scripts see it (`address list --json`). */
export interface AddressView {
  site: string;
  url: string;
  rateLimitKbps: number | null;
  schedule: string | null;
  concurrency: number;
  retries: number;
  retryDelayMs: number;
}

/** What `address set` may change; an absent field stays as it is, `null` turns a limit off. */
export interface AddressChanges {
  rateLimitKbps?: number | null;
  schedule?: string | null;
  concurrency?: number;
  retries?: number;
  retryDelayMs?: number;
}

function addressView(a: Selectable<AddressesTable>): AddressView {
  return {
    site: a.site_code,
    url: a.url,
    rateLimitKbps: a.rate_limit_kbps,
    schedule: a.schedule,
    concurrency: a.concurrency,
    retries: a.retries,
    retryDelayMs: a.retry_delay_ms,
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
    ...(c.rateLimitKbps !== undefined ? { rate_limit_kbps: c.rateLimitKbps } : {}),
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
