import { createPublicKey } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { request } from 'undici';
import { formatDuration } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import type { Database, SiteState, SitesTable, SiteType } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { type JoinRequest, type PhaseReport, type PhaseState, S2S, s2sJson } from '../s2s/index.js';
import { postMessage, reportSite } from '../status/index.js';
import { hashToken, parseJoinToken } from './codes.js';
import { getSiteRow, recordPhase, siteRecordOf } from './records.js';
import { isBeingReplaced, takeOverSite } from './replace.js';

/** The phases of a site install, in order, as the parent records them. */
export const INSTALL_PHASES = [
  'preflight',
  'data directory',
  'keys',
  'registration',
  'components',
  'DP ready',
] as const;
export type InstallPhase = (typeof INSTALL_PHASES)[number];
const BEFORE_REGISTRATION: readonly InstallPhase[] = ['preflight', 'data directory', 'keys'];
const AFTER_REGISTRATION: readonly InstallPhase[] = ['components', 'DP ready'];

type Db = Kysely<Database>;
type SiteRow = Selectable<SitesTable>;

/** Changes a child's state: the row, the record sent up, a status message and a log line. */
async function setChildState(
  ctx: Pick<SiteContext, 'clock' | 'log' | 'sink'>,
  trx: Db,
  row: SiteRow,
  state: SiteState,
  error: string | null,
  text: string,
): Promise<void> {
  const now = ctx.clock.now();
  await trx
    .updateTable('sites')
    .set({ state, error, updated_at: now })
    .where('code', '=', row.code)
    .execute();
  await reportSite(trx, ctx.sink, siteRecordOf({ ...row, state, error, updated_at: now }));
  const severity = state === 'failed' ? 'error' : state === 'unreachable' ? 'warning' : 'info';
  await postMessage(trx, ctx.sink, now, { severity, component: 'hierman', text, subject: row.code });
  ctx.log('hierman')[severity === 'info' ? 'info' : 'warn']({ peer: row.code, state, error }, text);
}

/** The install phase a failed child failed in, as recorded in its phase timeline. */
async function failedPhase(db: Db, code: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('site_phases')
    .select('name')
    .where('site_code', '=', code)
    .where('state', '=', 'failed')
    .executeTakeFirst();
  return row?.name;
}

/** The pending child a join token is for; refuses a malformed, wrong, expired or used token. */
async function siteForToken(
  ctx: Pick<SiteContext, 'clock' | 'config'>,
  trx: Db,
  token: string,
): Promise<SiteRow> {
  const { code } = parseJoinToken(token);
  const invalid = (why: string) => new OutpostError('OUTPOST_JOIN_TOKEN_INVALID', `join token ${why}`);
  const row = await trx.selectFrom('sites').selectAll().where('code', '=', code).executeTakeFirst();
  if (row?.relation !== 'child') throw invalid(`is not for a site of ${ctx.config.code}`);
  const joined = row.state === 'active' || row.state === 'installing' || row.state === 'unreachable';
  if (joined && !isBeingReplaced(row)) {
    throw new OutpostError('OUTPOST_SITE_ACTIVE', `site ${code} has already joined (state ${row.state})`, {
      hint: 'delete the old site before reusing its code',
    });
  }
  if (row.state === 'deleted') throw invalid(`for ${code} belongs to a deleted site`);
  if (!row.join_token_hash || row.join_token_hash !== hashToken(token))
    throw invalid(`for ${code} is not valid`);
  // A failed preflight changed nothing on the new host: the administrator may fix the cause and
  // run the join again with the same token, within its deadline.
  const retryable = row.state === 'failed' && (await failedPhase(trx, code)) === 'preflight';
  if ((row.state === 'failed' && !retryable) || (row.join_expires_at ?? 0) < ctx.clock.now()) {
    const failed = row.state === 'failed' ? `; the install failed (${row.error})` : '';
    throw new OutpostError(
      'OUTPOST_JOIN_TOKEN_INVALID',
      `join token for ${code} expired at ${new Date(row.join_expires_at ?? 0).toISOString()}${failed}`,
      {
        hint:
          row.state === 'failed'
            ? `delete the site (outpost site delete ${code}) and add it again`
            : 'add the site again for a new token',
      },
    );
  }
  return row;
}

export interface JoinCheck {
  code: string;
  type: SiteType;
  url: string;
  parent: string;
  /** The parent's clock, for the skew check. */
  time: number;
  /** Bytes of content already assigned to the new site's DP. */
  bytesAssigned: number;
}

/** Preflight at the parent: is the token good, and what will the new site need? Changes nothing. */
export async function checkJoin(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db'>,
  token: string,
): Promise<JoinCheck> {
  const row = await siteForToken(ctx, ctx.db, token);
  const assigned = await ctx.db
    .selectFrom('assignments')
    .innerJoin('packages', 'packages.id', 'assignments.package_id')
    .innerJoin('package_files', (j) =>
      j
        .onRef('package_files.package_id', '=', 'packages.id')
        .onRef('package_files.source_version', '=', 'packages.source_version'),
    )
    .select((eb) => eb.fn.sum<number>('package_files.size').as('bytes'))
    .where('assignments.site_code', '=', row.code)
    .executeTakeFirst();
  return {
    code: row.code,
    type: row.type,
    url: row.url ?? '',
    parent: ctx.config.code,
    time: ctx.clock.now(),
    bytesAssigned: Number(assigned?.bytes ?? 0),
  };
}

/** Can this site reach `url`? Used for the preflight reach-back check and for DP ready. */
async function probe(url: string, expect: (body: string) => boolean): Promise<string | null> {
  try {
    const res = await request(`${url}/healthz`, { headersTimeout: 5000, bodyTimeout: 5000 });
    const body = await res.body.text();
    if (res.statusCode !== 200 || !expect(body))
      return `${url} answered, but not as the site being installed (HTTP ${res.statusCode})`;
    return null;
  } catch (err) {
    const e = err as Error & { code?: string };
    return `network: ${e.code ?? e.message}`;
  }
}

/** Preflight at the parent: can it reach back to the URL the new site will be reached at? */
export async function probeJoiningSite(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db'>,
  token: string,
  nonce: string,
): Promise<{ reachable: true; url: string }> {
  const row = await siteForToken(ctx, ctx.db, token);
  const problem = await probe(row.url ?? '', (body) => body.includes(nonce));
  if (problem) {
    throw new OutpostError(
      'OUTPOST_UNREACHABLE',
      `${ctx.config.code} cannot reach ${row.code} at ${row.url}: ${problem}`,
      {
        hint: 'check the --url given at site add, the listen address and any firewall between the sites',
      },
    );
  }
  return { reachable: true, url: row.url ?? '' };
}

/** Fails a child in `phase`: its phase timeline, its row, the record sent up and a status message. */
async function failChild(
  ctx: Pick<SiteContext, 'clock' | 'log' | 'sink'>,
  trx: Db,
  row: SiteRow,
  phase: InstallPhase,
  reason: string,
  now: number,
): Promise<void> {
  await recordPhase(trx, row.code, phase, 'failed', now, reason);
  await setChildState(
    ctx,
    trx,
    row,
    'failed',
    `${phase}: ${reason}`,
    `site ${row.code} failed to install in phase ${phase}: ${reason}`,
  );
}

async function progress(
  ctx: Pick<SiteContext, 'clock' | 'log' | 'sink'>,
  trx: Db,
  row: SiteRow,
  phase: InstallPhase,
  state: PhaseState,
  error: string | null,
): Promise<void> {
  const now = ctx.clock.now();
  if (state === 'failed' && isBeingReplaced(row)) {
    // The old host still serves the site: only the new host's install failed, and it may try again.
    await recordPhase(trx, row.code, phase, 'failed', now, error);
    const text = `new host of site ${row.code} failed in phase ${phase}: ${error ?? 'no reason given'}; generation ${row.generation} still serves`;
    await postMessage(trx, ctx.sink, now, {
      severity: 'warning',
      component: 'hierman',
      text,
      subject: row.code,
    });
    return;
  }
  if (state === 'failed') return failChild(ctx, trx, row, phase, error ?? 'no reason given', now);
  await recordPhase(trx, row.code, phase, state, now, error);
  // A finished phase restarts the clock: every phase has the whole deadline. A phase that is still
  // running (and perhaps retrying) does not.
  const deadline = state === 'done' ? { join_expires_at: now + (row.join_deadline_ms ?? 0) } : {};
  await trx
    .updateTable('sites')
    .set({ ...deadline, last_contact: now })
    .where('code', '=', row.code)
    .execute();
}

/** A phase report from a site that has not registered yet (it has no key here): the token vouches for it. */
export async function acceptEarlyPhase(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink'>,
  body: PhaseReport & { token: string },
): Promise<{ ok: true }> {
  const phase = body.phase as InstallPhase;
  if (!BEFORE_REGISTRATION.includes(phase))
    throw new OutpostError('OUTPOST_BAD_INPUT', `phase '${body.phase}' is not reported with a join token`);
  await ctx.db.transaction().execute(async (trx) => {
    let row = await siteForToken(ctx, trx, body.token);
    if (row.state === 'failed' && phase === 'preflight' && body.state === 'running') {
      await setChildState(ctx, trx, row, 'pending', null, `site ${row.code} runs its preflight again`);
      row = { ...row, state: 'pending', error: null };
    }
    await progress(ctx, trx, row, phase, body.state, body.error ?? null);
  });
  return { ok: true };
}

export interface JoinAnswer {
  site: { code: string; type: string; url: string };
  parent: { code: string; type: SiteType; url: string; generation: string; publicKeyPem: string };
  time: number;
}

/** Registration: checks the one-time token and records the child's key and generation. */
export async function acceptJoin(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'keys' | 'log' | 'sink' | 'transfers' | 'wake'>,
  req: JoinRequest,
): Promise<JoinAnswer> {
  if (!/^[0-9a-f-]{8,64}$/.test(req.generation))
    throw new OutpostError('OUTPOST_BAD_INPUT', 'generation is malformed');
  try {
    createPublicKey(req.publicKeyPem);
  } catch {
    throw new OutpostError('OUTPOST_BAD_INPUT', 'public key is not a valid key');
  }
  let cancelled: string[] = [];
  const answer = await ctx.db.transaction().execute(async (trx) => {
    const row = await siteForToken(ctx, trx, req.token);
    const now = ctx.clock.now();
    if (isBeingReplaced(row)) cancelled = await takeOverSite(trx, ctx, row, req.generation, now);
    const update = {
      public_key: req.publicKeyPem,
      generation: req.generation,
      state: 'installing' as const,
      join_token_hash: null,
      join_expires_at: now + (row.join_deadline_ms ?? 0),
      last_contact: now,
      error: null,
      updated_at: now,
    };
    await trx.updateTable('sites').set(update).where('code', '=', row.code).execute();
    await recordPhase(trx, row.code, 'registration', 'done', now);
    await reportSite(trx, ctx.sink, siteRecordOf({ ...row, ...update }));
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'hierman',
      text: `site ${row.code} registered with generation ${req.generation}`,
      subject: row.code,
    });
    return {
      site: { code: row.code, type: row.type, url: row.url ?? '' },
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
  if (cancelled.length > 0) {
    await ctx.transfers.abortJobs(cancelled, 'cancelled: the site was replaced');
    ctx.log('hierman').warn({ peer: answer.site.code, jobs: cancelled.length }, 'site replaced');
  }
  ctx.wake.notify('distmgr');
  return answer;
}

/**
 * A phase report from a registered child (signed). `DP ready` is only done when this parent can
 * reach the child's DP; until then the phase stays running with the reason, so a network problem is
 * reported as such when the deadline passes, not as a hang.
 */
export async function acceptLatePhase(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'wake'>,
  child: string,
  body: PhaseReport,
): Promise<{ phase: string; state: PhaseState; siteState: SiteState }> {
  const phase = body.phase as InstallPhase;
  if (!AFTER_REGISTRATION.includes(phase))
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `phase '${body.phase}' is not an install phase after registration`,
    );
  const row = await getSiteRow(ctx.db, child);
  if (row.state !== 'installing') return { phase, state: 'done', siteState: row.state };
  let state = body.state;
  let error = body.error ?? null;
  if (phase === 'DP ready' && state === 'done') {
    const existing = await ctx.db
      .selectFrom('site_phases')
      .select('state')
      .where('site_code', '=', child)
      .where('name', '=', phase)
      .executeTakeFirst();
    if (!existing) await recordPhase(ctx.db, child, phase, 'running', ctx.clock.now());
    const problem = await probe(row.url ?? '', (text) => text.includes(row.generation ?? '\0'));
    if (problem) {
      state = 'running';
      error = `${ctx.config.code} cannot reach ${child} at ${row.url}: ${problem}`;
    }
  }
  await ctx.db.transaction().execute(async (trx) => {
    const current = await getSiteRow(trx, child);
    if (current.state !== 'installing') return;
    await progress(ctx, trx, current, phase, state, error);
    if (phase === 'DP ready' && state === 'done') {
      await trx.updateTable('sites').set({ join_expires_at: null }).where('code', '=', child).execute();
      await setChildState(ctx, trx, current, 'active', null, `site ${child} is installed and active`);
    }
  });
  if (state === 'done' && phase === 'DP ready') ctx.wake.notify('distmgr');
  return { phase, state, siteState: (await getSiteRow(ctx.db, child)).state };
}

/** A heartbeat from a child: last contact now; an unreachable site is active again. */
export async function acceptHeartbeat(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'log' | 'sink' | 'wake'>,
  child: string,
): Promise<{ time: number }> {
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    const row = await getSiteRow(trx, child);
    await trx.updateTable('sites').set({ last_contact: now }).where('code', '=', child).execute();
    if (row.state === 'unreachable')
      await setChildState(ctx, trx, row, 'active', null, `site ${child} is reachable again`);
  });
  ctx.wake.notify('distmgr');
  return { time: now };
}

/**
 * The parent's watch over its children: a join or install phase that does not finish within its
 * deadline fails the site, naming the phase and the last reason seen; an active site silent for
 * longer than the configured time becomes unreachable.
 */
export async function watchChildren(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'log' | 'settings' | 'sink'>,
): Promise<void> {
  const now = ctx.clock.now();
  const children = await ctx.db.selectFrom('sites').selectAll().where('relation', '=', 'child').execute();
  for (const row of children) {
    const installing = row.state === 'pending' || row.state === 'installing';
    if (installing && (row.join_expires_at ?? Number.POSITIVE_INFINITY) < now) {
      const phases = await ctx.db
        .selectFrom('site_phases')
        .selectAll()
        .where('site_code', '=', row.code)
        .execute();
      const order =
        row.state === 'pending' ? [...BEFORE_REGISTRATION, 'registration' as const] : AFTER_REGISTRATION;
      const stuck =
        phases.length === 0
          ? 'registration'
          : (order.find((p) => phases.find((x) => x.name === p)?.state !== 'done') ??
            order[order.length - 1]);
      const lastError = phases.find((x) => x.name === stuck)?.error;
      const waited = formatDuration(row.join_deadline_ms ?? 0);
      const reason =
        lastError ??
        (stuck === 'registration' && !phases.length
          ? `no join arrived within ${waited}`
          : `stalled: no progress within ${waited}`);
      await ctx.db.transaction().execute((trx) => failChild(ctx, trx, row, stuck, reason, now));
    } else if (row.state === 'active' && (row.last_contact ?? 0) < now - ctx.settings.unreachableAfterMs) {
      const error = `no heartbeat for ${formatDuration(now - (row.last_contact ?? now))}`;
      await ctx.db
        .transaction()
        .execute((trx) =>
          setChildState(ctx, trx, row, 'unreachable', error, `site ${row.code} is unreachable: ${error}`),
        );
    }
  }
}

/**
 * The child's side of the last install phases, run with every heartbeat until the parent says the
 * site is active: components started, then DP ready (which the parent confirms by reaching it).
 */
export async function reportInstallProgress(
  ctx: Pick<SiteContext, 'config' | 'db' | 'identity' | 'log'>,
): Promise<void> {
  const parent = ctx.config.parent;
  if (!parent) return;
  const key = 'install.progress';
  const row = await ctx.db.selectFrom('kv').select('value').where('key', '=', key).executeTakeFirst();
  if (row?.value === 'active' || row?.value === 'stopped') return;
  const remember = (value: string) =>
    ctx.db
      .insertInto('kv')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  type Answer = { phase: string; state: PhaseState; siteState: SiteState };
  const send = (phase: InstallPhase) =>
    s2sJson<Answer>(ctx.identity, parent.url, 'POST', S2S.phases, { phase, state: 'done' });
  if (row?.value !== 'components') {
    await send('components');
    await remember('components');
  }
  const answer = await send('DP ready');
  if (answer.siteState === 'active') {
    await remember('active');
    ctx.log('hierman').info('install complete: the parent reports this site active');
  } else if (answer.siteState === 'failed' || answer.siteState === 'deleted') {
    await remember('stopped');
    ctx
      .log('hierman')
      .error(
        { state: answer.siteState },
        `the parent reports this site ${answer.siteState}; install progress is no longer reported`,
      );
  } else {
    ctx
      .log('hierman')
      .warn({ phase: 'DP ready' }, 'waiting for the parent to confirm it can reach this site');
  }
}
