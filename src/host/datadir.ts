import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../common/index.js';
import type { DatabaseConfig, SiteType } from '../db/index.js';
import { OutpostError } from '../errors/index.js';

/** What a site knows about itself, kept in `site.json` in its data directory. */
export interface SiteConfig {
  code: string;
  type: SiteType;
  name: string;
  /** HOST:PORT the server listens on. */
  listen: string;
  /** The URL other sites and clients use to reach this one. */
  url: string;
  generation: string;
  parent: { code: string; url: string } | null;
  /** Absent means the embedded SQLite database in the data directory. */
  database?: { kind: 'postgres'; url: string; schema: string };
  createdAt: number;
}

/** Every path inside a data directory, in one place, so nothing is ever written elsewhere. */
export function dataPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    root,
    config: join(root, 'site.json'),
    adminToken: join(root, 'admin.token'),
    privateKey: join(root, 'keys', 'site.key'),
    publicKey: join(root, 'keys', 'site.pub'),
    database: join(root, 'db', 'site.db'),
    chunks: join(root, 'content', 'chunks'),
    logs: join(root, 'logs'),
  };
}

export type DataPaths = ReturnType<typeof dataPaths>;

/** The database a site uses, as configured. */
export function databaseConfigOf(config: SiteConfig, paths: DataPaths): DatabaseConfig {
  return config.database ?? { kind: 'sqlite', file: paths.database };
}

/** Creates the folders of a new data directory; refuses one that already holds a site. */
export async function createDataDir(dataDir: string): Promise<DataPaths> {
  const paths = dataPaths(dataDir);
  if (existsSync(paths.root)) {
    const entries = await readdir(paths.root);
    if (entries.length > 0) {
      throw new OutpostError('OUTPOST_DATA_DIR_EXISTS', `data directory '${paths.root}' is not empty`, {
        hint: existsSync(paths.config)
          ? 'a site is already installed there'
          : 'choose an empty or new folder',
      });
    }
  }
  for (const dir of [
    paths.root,
    join(paths.root, 'keys'),
    join(paths.root, 'db'),
    paths.chunks,
    paths.logs,
  ]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
  return paths;
}

/** Reads `site.json`; a clear error when the folder holds no site. */
export async function readSiteConfig(dataDir: string): Promise<SiteConfig> {
  const paths = dataPaths(dataDir);
  try {
    return JSON.parse(await readFile(paths.config, 'utf8')) as SiteConfig;
  } catch {
    throw new OutpostError('OUTPOST_NOT_CONFIGURED', `no site in data directory '${paths.root}'`, {
      hint: 'create one with outpost init or outpost site join',
    });
  }
}

export async function writeSiteConfig(dataDir: string, config: SiteConfig): Promise<void> {
  await writeFileAtomic(dataPaths(dataDir).config, `${JSON.stringify(config, null, 2)}\n`, 0o600);
}

/** Creates the admin API token (0600) that the CLI and console use. */
export async function createAdminToken(dataDir: string): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  await writeFileAtomic(dataPaths(dataDir).adminToken, `${token}\n`, 0o600);
  return token;
}

export async function readAdminToken(dataDir: string): Promise<string> {
  return (await readFile(dataPaths(dataDir).adminToken, 'utf8')).trim();
}
