import { randomUUID } from 'node:crypto';
import type { Insertable, Selectable } from 'kysely';
import { assertSiteCode, writeFileAtomic } from '../common/index.js';
import type { SitesTable, SiteType } from '../db/index.js';
import { openDatabase } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import {
  createAdminToken,
  createDataDir,
  DEFAULT_LISTEN,
  databaseConfigOf,
  dataPaths,
  parseListen,
  type SiteConfig,
  writeSiteConfig,
} from '../host/index.js';
import { generateSiteKeys } from '../s2s/index.js';

import type { JoinAnswer } from './phases.js';

/** Checks HOST:PORT. */
export function assertListen(listen: string): string {
  parseListen(listen);
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

/** A site row for a site known at install time (this one, its parent): active, with its key. */
function knownSite(
  now: number,
  site: Pick<
    Selectable<SitesTable>,
    'code' | 'type' | 'relation' | 'parent_code' | 'name' | 'url' | 'generation' | 'public_key'
  >,
): Insertable<SitesTable> {
  return {
    ...site,
    state: 'active',
    join_token_hash: null,
    join_expires_at: null,
    last_contact: now,
    error: null,
    created_at: now,
    updated_at: now,
  };
}

/** Writes keys, database, admin token and (last) site.json: after this the site can be served. */
export async function writeIdentity(
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
        .values(
          knownSite(now, {
            code: config.code,
            type: config.type,
            relation: 'self',
            parent_code: config.parent?.code ?? null,
            name: config.name,
            url: config.url,
            generation,
            public_key: keys.publicKeyPem,
          }),
        )
        .execute();
      if (parentRow) {
        await trx
          .insertInto('sites')
          .values(
            knownSite(now, {
              code: parentRow.code,
              type: parentRow.type,
              relation: 'parent',
              parent_code: null,
              name: null,
              url: parentRow.url,
              generation: parentRow.generation,
              public_key: parentRow.publicKeyPem,
            }),
          )
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

/**
 * Where a new site keeps its database: the embedded SQLite default, or its own schema in a
 * PostgreSQL database (`--database postgres://…`), named after the site code and generation so
 * several sites can share one database.
 */
export function databaseFor(
  url: string | undefined,
  code: string,
  generation: string,
): SiteConfig['database'] {
  if (url === undefined) return undefined;
  if (!/^postgres(ql)?:\/\/[^\s]+$/.test(url)) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `--database '${url}' is not a postgres:// URL`);
  }
  return { kind: 'postgres', url, schema: `outpost_${code.toLowerCase()}_${generation.slice(0, 8)}` };
}

/** `outpost init`: a new central site in an empty data directory. */
export async function initCentral(opts: {
  dataDir: string;
  code: string;
  name?: string;
  listen?: string;
  database?: string;
}): Promise<InstalledSite> {
  const code = assertSiteCode(opts.code);
  const listen = assertListen(opts.listen ?? DEFAULT_LISTEN);
  const generation = randomUUID();
  const database = databaseFor(opts.database, code, generation);
  await createDataDir(opts.dataDir);
  return writeIdentity(
    opts.dataDir,
    generateSiteKeys(),
    generation,
    {
      code,
      type: 'central',
      name: opts.name ?? code,
      listen,
      url: `http://${listen}`,
      parent: null,
      database,
    },
    null,
  );
}
