import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { formatDuration } from '../common/index.js';
import type { SiteType } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import type { KnownPeer } from '../s2s/index.js';
import { s2sJson } from '../s2s/index.js';
import type { SiteContext } from '../server/context.js';
import { postMessage, reportSite } from '../status/index.js';
import { assertSiteCode, assertSiteType } from './codes.js';
import { getSiteRow, recordPhase, siteRecordOf } from './records.js';

export const DEFAULT_JOIN_DEADLINE_MS = 10 * 60_000;
export const DEFAULT_ADDRESS = { concurrency: 2, retries: 5, retryDelayMs: 30_000 };

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

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

function assertUrl(url: string, what: string): string {
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
export async function isCodeFree(ctx: SiteContext, code: string): Promise<boolean> {
  const row = await ctx.db.selectFrom('sites').select('state').where('code', '=', code).executeTakeFirst();
  if (row && row.state !== 'deleted') return false;
  const parent = ctx.config.parent;
  if (!parent) return true;
  const answer = await s2sJson<{ free: boolean }>(ctx.identity, parent.url, 'POST', '/s2s/v1/sites/check', {
    code,
  });
  return answer.free;
}

/** `site add`: a new child of this site, pending until it joins with the one-time token returned. */
export async function addSite(ctx: SiteContext, input: AddSiteInput): Promise<AddSiteResult> {
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
  const joinToken = `${code}.${randomBytes(24).toString('base64url')}`;
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
      updated_at: now,
    };
    await trx
      .insertInto('addresses')
      .values({ site_code: code, ...address })
      .onConflict((oc) => oc.column('site_code').doUpdateSet(address))
      .execute();
    await recordPhase(trx, code, 'registration', 'pending', now);
    await reportSite(trx, ctx.sink, siteRecordOf({ code, created_at: now, ...row }));
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'hierman',
      text: `site ${code} (${type}) added under ${self.code}; waiting for it to join within ${formatDuration(deadline)}`,
    });
  });
  ctx.log('hierman').info({ site: code }, 'site added, waiting for join');
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

export interface JoinRequest {
  token: string;
  publicKeyPem: string;
  generation: string;
}

export interface JoinAnswer {
  site: { code: string; type: string; url: string };
  parent: { code: string; type: SiteType; url: string; generation: string; publicKeyPem: string };
  time: number;
}

/** The parent's side of `site join`: checks the one-time token and records the child's key and generation. */
export async function acceptJoin(ctx: SiteContext, req: JoinRequest): Promise<JoinAnswer> {
  const code = req.token.split('.')[0] ?? '';
  const invalid = (why: string) => new OutpostError('OUTPOST_JOIN_TOKEN_INVALID', `join token ${why}`);
  if (!/^[A-Z0-9]{3}$/.test(code)) throw invalid('is malformed');
  if (!/^[0-9a-f-]{8,64}$/.test(req.generation))
    throw new OutpostError('OUTPOST_BAD_INPUT', 'generation is malformed');
  try {
    createPublicKey(req.publicKeyPem);
  } catch {
    throw new OutpostError('OUTPOST_BAD_INPUT', 'public key is not a valid key');
  }
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('sites').selectAll().where('code', '=', code).executeTakeFirst();
    if (row?.relation !== 'child') throw invalid(`is not for a site of ${ctx.config.code}`);
    if (row.state === 'active' || row.state === 'installing' || row.state === 'unreachable') {
      throw new OutpostError('OUTPOST_SITE_ACTIVE', `site ${code} has already joined (state ${row.state})`, {
        hint: 'delete the old site before reusing its code',
      });
    }
    if (!row.join_token_hash || row.join_token_hash !== hashToken(req.token))
      throw invalid(`for ${code} is not valid`);
    if ((row.join_expires_at ?? 0) < now) {
      throw invalid(`for ${code} expired at ${new Date(row.join_expires_at ?? 0).toISOString()}`);
    }
    const update = {
      public_key: req.publicKeyPem,
      generation: req.generation,
      state: 'installing' as const,
      join_token_hash: null,
      last_contact: now,
      error: null,
      updated_at: now,
    };
    await trx.updateTable('sites').set(update).where('code', '=', code).execute();
    await recordPhase(trx, code, 'registration', 'done', now);
    await reportSite(trx, ctx.sink, siteRecordOf({ ...row, ...update }));
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'hierman',
      text: `site ${code} joined with generation ${req.generation}`,
    });
    return {
      site: { code, type: row.type, url: row.url ?? '' },
      parent: {
        code: ctx.config.code,
        type: ctx.config.type,
        url: ctx.config.url,
        generation: ctx.config.generation,
        publicKeyPem: ctx.keys.publicKeyPem,
      },
      time: now,
    };
  });
}

/** A heartbeat from a child: last contact now; an installing or unreachable site becomes active. */
export async function acceptHeartbeat(ctx: SiteContext, child: string): Promise<{ time: number }> {
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    const row = await getSiteRow(trx, child);
    const state = row.state === 'installing' || row.state === 'unreachable' ? 'active' : row.state;
    await trx.updateTable('sites').set({ last_contact: now, state }).where('code', '=', child).execute();
    if (state !== row.state) {
      await trx.updateTable('sites').set({ updated_at: now }).where('code', '=', child).execute();
      await reportSite(trx, ctx.sink, siteRecordOf({ ...row, state, last_contact: now, updated_at: now }));
      await postMessage(trx, ctx.sink, now, {
        severity: 'info',
        component: 'hierman',
        text: `site ${child} is active`,
      });
      ctx.log('hierman').info({ site: child }, 'site is active');
    }
  });
  ctx.wake.notify('distmgr');
  return { time: now };
}

/**
 * The parent's watch over its children: a join that never came within its deadline fails the
 * site; an active site silent for longer than the configured time becomes unreachable.
 */
export async function watchChildren(ctx: SiteContext): Promise<void> {
  const now = ctx.clock.now();
  const children = await ctx.db.selectFrom('sites').selectAll().where('relation', '=', 'child').execute();
  for (const row of children) {
    let state = row.state;
    let error = row.error;
    if (row.state === 'pending' && (row.join_expires_at ?? Number.POSITIVE_INFINITY) < now) {
      state = 'failed';
      error = 'registration: no join arrived before the join deadline';
    } else if (row.state === 'active' && (row.last_contact ?? 0) < now - ctx.settings.unreachableAfterMs) {
      state = 'unreachable';
      error = `no heartbeat for ${formatDuration(now - (row.last_contact ?? now))}`;
    }
    if (state === row.state) continue;
    await ctx.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('sites')
        .set({ state, error, updated_at: now })
        .where('code', '=', row.code)
        .execute();
      if (state === 'failed') await recordPhase(trx, row.code, 'registration', 'failed', now, error);
      await reportSite(trx, ctx.sink, siteRecordOf({ ...row, state, error, updated_at: now }));
      await postMessage(trx, ctx.sink, now, {
        severity: state === 'failed' ? 'error' : 'warning',
        component: 'hierman',
        text: `site ${row.code} is ${state}: ${error}`,
      });
    });
    ctx.log('hierman').warn({ site: row.code, state, error }, `site ${row.code} is ${state}`);
  }
}

/** Sends this site's heartbeat to its parent. */
export async function sendHeartbeat(ctx: SiteContext): Promise<void> {
  const parent = ctx.config.parent;
  if (!parent) return;
  await s2sJson(ctx.identity, parent.url, 'POST', '/s2s/v1/heartbeat', { time: ctx.clock.now() });
}

/** The peers this site accepts signed requests from: its parent and its children, at their current generation. */
export async function findPeer(ctx: SiteContext, code: string): Promise<KnownPeer | undefined> {
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
