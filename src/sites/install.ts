import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { writeFileAtomic } from '../common/index.js';
import type { SiteType } from '../db/index.js';
import { openDatabase } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import {
  createAdminToken,
  createDataDir,
  databaseConfigOf,
  dataPaths,
  type SiteConfig,
  writeSiteConfig,
} from '../host/datadir.js';
import { generateSiteKeys, s2sJson } from '../s2s/index.js';
import { assertSiteCode } from './codes.js';
import type { JoinAnswer } from './hierman.js';

export const DEFAULT_LISTEN = '127.0.0.1:8470';

/** Checks HOST:PORT. */
export function assertListen(listen: string): string {
  const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `--listen '${listen}' is not HOST:PORT`);
  }
  return listen;
}

export interface InstalledSite {
  code: string;
  type: SiteType;
  dataDir: string;
  url: string;
  token: string;
  generation: string;
}

type ParentRow = JoinAnswer['parent'];

async function writeIdentity(
  dataDir: string,
  keys: { privateKeyPem: string; publicKeyPem: string },
  generation: string,
  config: Omit<SiteConfig, 'generation' | 'createdAt'>,
  parentRow: ParentRow | null,
): Promise<InstalledSite> {
  const paths = dataPaths(dataDir);
  const now = Date.now();
  await writeFileAtomic(paths.privateKey, keys.privateKeyPem, 0o600);
  await writeFileAtomic(paths.publicKey, keys.publicKeyPem, 0o644);
  const full: SiteConfig = { ...config, generation, createdAt: now };
  const { db, close } = await openDatabase(databaseConfigOf(full, paths));
  try {
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sites')
        .values({
          code: config.code,
          type: config.type,
          relation: 'self',
          parent_code: config.parent?.code ?? null,
          name: config.name,
          url: config.url,
          state: 'active',
          generation,
          public_key: keys.publicKeyPem,
          join_token_hash: null,
          join_expires_at: null,
          last_contact: now,
          error: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      if (parentRow) {
        await trx
          .insertInto('sites')
          .values({
            code: parentRow.code,
            type: parentRow.type,
            relation: 'parent',
            parent_code: null,
            name: null,
            url: parentRow.url,
            state: 'active',
            generation: parentRow.generation,
            public_key: parentRow.publicKeyPem,
            join_token_hash: null,
            join_expires_at: null,
            last_contact: now,
            error: null,
            created_at: now,
            updated_at: now,
          })
          .execute();
      }
    });
  } finally {
    await close();
  }
  const token = await createAdminToken(dataDir);
  // site.json last: its presence means the install is complete.
  await writeSiteConfig(dataDir, full);
  return { code: config.code, type: config.type, dataDir: paths.root, url: config.url, token, generation };
}

/** `outpost init`: a new central site in an empty data directory. */
export async function initCentral(opts: {
  dataDir: string;
  code: string;
  name?: string;
  listen?: string;
}): Promise<InstalledSite> {
  const code = assertSiteCode(opts.code);
  const listen = assertListen(opts.listen ?? DEFAULT_LISTEN);
  await createDataDir(opts.dataDir);
  return writeIdentity(
    opts.dataDir,
    generateSiteKeys(),
    randomUUID(),
    { code, type: 'central', name: opts.name ?? code, listen, url: `http://${listen}`, parent: null },
    null,
  );
}

/**
 * `outpost site join`: installs a site on this host and registers it with its parent using the
 * one-time token from `site add`. A failed registration leaves no data directory behind.
 */
export async function joinSite(opts: {
  dataDir: string;
  parentUrl: string;
  token: string;
  listen?: string;
}): Promise<InstalledSite> {
  const code = opts.token.split('.')[0] ?? '';
  if (!/^[A-Z0-9]{3}\.[A-Za-z0-9_-]{20,}$/.test(opts.token)) {
    throw new OutpostError('OUTPOST_JOIN_TOKEN_INVALID', 'join token is malformed', {
      hint: 'use the token printed by site add',
    });
  }
  assertSiteCode(code);
  if (opts.listen) assertListen(opts.listen);
  const paths = await createDataDir(opts.dataDir);
  try {
    const keys = generateSiteKeys();
    const generation = randomUUID();
    const answer = await s2sJson<JoinAnswer>(null, opts.parentUrl, 'POST', '/s2s/v1/join', {
      token: opts.token,
      publicKeyPem: keys.publicKeyPem,
      generation,
    });
    const url = answer.site.url;
    const listen = opts.listen ?? new URL(url).host;
    return await writeIdentity(
      opts.dataDir,
      keys,
      generation,
      {
        code,
        type: answer.site.type as SiteType,
        name: code,
        listen,
        url,
        parent: { code: answer.parent.code, url: answer.parent.url },
      },
      answer.parent,
    );
  } catch (err) {
    await rm(paths.root, { recursive: true, force: true });
    throw err;
  }
}
