import { assertSiteCode, formatDuration } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { type KnownPeer, type Registration, S2S, s2sJson } from '../s2s/index.js';
import { postMessage, reportSite } from '../status/index.js';
import { assertSiteType, hashToken, newJoinToken } from './codes.js';
import { siteRecordOf } from './records.js';

export const DEFAULT_JOIN_DEADLINE_MS = 10 * 60_000;
export const DEFAULT_ADDRESS = { concurrency: 2, retries: 5, retryDelayMs: 30_000 };

export interface AddSiteInput {
  code: string;
  type: string;
  parent?: string;
  url: string;
  name?: string;
  joinDeadlineMs?: number;
}

export interface AddSiteResult {
  code: string;
  type: string;
  parent: string;
  url: string;
  state: 'pending';
  joinToken: string;
  joinDeadline: string;
  expiresAt: number;
}

/** Throws unless `url` is an http(s) URL; returns it without a trailing slash. */
export function assertUrl(url: string, what: string): string {
  try {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.toString().replace(/\/$/, '');
  } catch {
    // reported below
  }
  throw new OutpostError('OUTPOST_BAD_INPUT', `${what} '${url}' is not an http(s) URL`);
}

/**
 * Is `code` free in the whole hierarchy? Checked here and then asked of each ancestor, so the
 * central site, which knows every site, has the last word.
 */
export async function isCodeFree(
  ctx: Pick<SiteContext, 'config' | 'db' | 'identity'>,
  code: string,
): Promise<boolean> {
  const row = await ctx.db.selectFrom('sites').select('state').where('code', '=', code).executeTakeFirst();
  if (row && row.state !== 'deleted') return false;
  const parent = ctx.config.parent;
  if (!parent) return true;
  const answer = await s2sJson<{ free: boolean }>(ctx.identity, parent.url, 'POST', S2S.siteCheck, {
    code,
  });
  return answer.free;
}

/** `site add`: a new child of this site, pending until it joins with the one-time token returned. */
export async function addSite(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'identity' | 'log' | 'sink'>,
  input: AddSiteInput,
): Promise<AddSiteResult> {
  const self = ctx.config;
  const code = assertSiteCode(input.code);
  const type = assertSiteType(input.type);
  if (type === 'central')
    throw new OutpostError('OUTPOST_BAD_INPUT', 'a central site is created with outpost init, not added');
  const parent = input.parent === undefined ? self.code : assertSiteCode(input.parent, 'parent site code');
  if (parent !== self.code) {
    throw new OutpostError('OUTPOST_WRONG_PARENT', `this is site ${self.code}, not ${parent}`, {
      hint: `run site add against the server of ${parent}`,
    });
  }
  if (self.type === 'secondary')
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `${self.code} is a secondary site and cannot have child sites`,
    );
  const url = assertUrl(input.url, '--url');
  const deadline = input.joinDeadlineMs ?? DEFAULT_JOIN_DEADLINE_MS;
  if (!(deadline >= 1000)) throw new OutpostError('OUTPOST_BAD_INPUT', '--join-deadline must be at least 1s');
  if (!(await isCodeFree(ctx, code))) {
    throw new OutpostError('OUTPOST_SITE_EXISTS', `site code ${code} is already in use in the hierarchy`, {
      hint: 'delete or purge the old site first, or choose another code',
    });
  }
  const now = ctx.clock.now();
  const joinToken = newJoinToken(code);
  const row = {
    type,
    relation: 'child' as const,
    parent_code: self.code,
    name: input.name ?? null,
    url,
    state: 'pending' as const,
    generation: null,
    public_key: null,
    join_token_hash: hashToken(joinToken),
    join_expires_at: now + deadline,
    join_deadline_ms: deadline,
    last_contact: null,
    error: null,
    updated_at: now,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('site_phases').where('site_code', '=', code).execute();
    await trx
      .insertInto('sites')
      .values({ code, created_at: now, ...row })
      .onConflict((oc) => oc.column('code').doUpdateSet(row))
      .execute();
    const address = {
      url,
      rate_limit_kbps: null,
      schedule: null,
      concurrency: DEFAULT_ADDRESS.concurrency,
      retries: DEFAULT_ADDRESS.retries,
      retry_delay_ms: DEFAULT_ADDRESS.retryDelayMs,
      hold_generation: null,
      updated_at: now,
    };
    await trx
      .insertInto('addresses')
      .values({ site_code: code, ...address })
      .onConflict((oc) => oc.column('site_code').doUpdateSet(address))
      .execute();
    await reportSite(trx, ctx.sink, siteRecordOf({ code, created_at: now, ...row }));
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'hierman',
      text: `site ${code} (${type}) added under ${self.code}; waiting for it to join within ${formatDuration(deadline)}`,
      subject: code,
    });
  });
  ctx.log('hierman').info({ peer: code }, 'site added, waiting for join');
  return {
    code,
    type,
    parent: self.code,
    url,
    state: 'pending',
    joinToken,
    joinDeadline: formatDuration(deadline),
    expiresAt: now + deadline,
  };
}

/** Sends this site's heartbeat to its parent. */
export async function sendHeartbeat(ctx: Pick<SiteContext, 'clock' | 'config' | 'identity'>): Promise<void> {
  const parent = ctx.config.parent;
  if (!parent) return;
  await s2sJson(ctx.identity, parent.url, 'POST', S2S.heartbeat, { time: ctx.clock.now() });
}

/** The peers this site accepts signed requests from: its parent and its children, at their current generation. */
export async function findPeer(ctx: Pick<SiteContext, 'db'>, code: string): Promise<KnownPeer | undefined> {
  const row = await ctx.db
    .selectFrom('sites')
    .select(['code', 'generation', 'public_key', 'relation', 'state'])
    .where('code', '=', code)
    .executeTakeFirst();
  if (!row?.generation || !row.public_key) return undefined;
  if (row.relation !== 'parent' && row.relation !== 'child') return undefined;
  if (row.state === 'deleted') return undefined;
  return { code: row.code, generation: row.generation, publicKeyPem: row.public_key };
}

/**
 * Whether this site knows `code` as a site below it, and in what state: `host audit` asks before it
 * calls an install a leftover.
 */
export async function registrationOf(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  code: string,
): Promise<Registration> {
  const row = await ctx.db
    .selectFrom('sites')
    .select(['state', 'relation', 'generation'])
    .where('code', '=', code)
    .executeTakeFirst();
  const known = row?.relation === 'child' || row?.relation === 'descendant';
  if (!known) return { parent: ctx.config.code, code, known };
  return {
    parent: ctx.config.code,
    code,
    known,
    state: row?.state,
    generation: row?.generation ?? undefined,
  };
}
