import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/index.js';
import { OutpostError } from '../errors/index.js';
import { type ClientState, generateSiteKeys } from '../s2s/index.js';

/** What this client did with a deployment, for one package version. */
export interface DeploymentRecord {
  package: string;
  sourceVersion: number;
  state: ClientState;
  exitCode: number | null;
  at: number;
}

interface StateFile {
  deployments: Record<string, DeploymentRecord>;
}

/** How far a partial download got: bytes of the `.part` file flushed to disk, for a file of `sha256`. */
export interface PartState {
  sha256: string;
  size: number;
  bytes: number;
}

/**
 * The agent's data directory (docs/MP-PROTOCOL.md, the client side):
 * `client.key` (its Ed25519 key, 0600), `state.json` (what it ran), `downloads/` (partial files and
 * their state) and `packages/<PKG>/<version>/` (verified package files, where programs run).
 */
export class ClientData {
  constructor(readonly dir: string) {}

  get downloads(): string {
    return join(this.dir, 'downloads');
  }

  /** The folder a package version is downloaded to and its program runs in. */
  packageDir(pkg: string, version: number): string {
    return join(this.dir, 'packages', pkg, String(version));
  }

  /** The client's private key: made and written (0600, crash-safely) on first use, the same ever after. */
  async key(): Promise<string> {
    const path = join(this.dir, 'client.key');
    const existing = await readText(path);
    if (existing !== null) return existing;
    const pem = generateSiteKeys().privateKeyPem;
    await writeFileAtomic(path, pem, 0o600);
    return pem;
  }

  async records(): Promise<Record<string, DeploymentRecord>> {
    const text = await readText(join(this.dir, 'state.json'));
    if (text === null) return {};
    try {
      return (JSON.parse(text) as StateFile).deployments;
    } catch {
      throw new OutpostError('OUTPOST_BAD_INPUT', `${join(this.dir, 'state.json')} is not valid JSON`, {
        hint: 'it is written crash-safely, so something else changed it; remove it to start afresh',
      });
    }
  }

  /** Records what happened to deployment `id` (crash-safely, so a restart does not run it again). */
  async record(id: string, record: DeploymentRecord): Promise<void> {
    const deployments = { ...(await this.records()), [id]: record };
    await writeFileAtomic(
      join(this.dir, 'state.json'),
      `${JSON.stringify({ deployments } satisfies StateFile, null, 2)}\n`,
    );
  }

  partPath(sha256: string): string {
    return join(this.downloads, `${sha256}.part`);
  }

  /** The bytes of a partial download known to be on disk, or null when there is none. */
  async partState(sha256: string): Promise<PartState | null> {
    const text = await readText(join(this.downloads, `${sha256}.json`));
    if (text === null) return null;
    try {
      const s = JSON.parse(text) as PartState;
      return s.sha256 === sha256 && Number.isInteger(s.bytes) && s.bytes >= 0 ? s : null;
    } catch {
      return null;
    }
  }

  async savePartState(state: PartState): Promise<void> {
    await writeFileAtomic(join(this.downloads, `${state.sha256}.json`), JSON.stringify(state));
  }

  partStatePath(sha256: string): string {
    return join(this.downloads, `${sha256}.json`);
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
