import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { clientIdOf, loadSiteKeys } from '../s2s/index.js';
import { ClientData } from './state.js';

describe('ClientData', () => {
  it('makes the key once, 0600, and gives the same key (so the same id) ever after', async () => {
    const dir = join(tempDir('client-state'), 'data');
    const first = await new ClientData(dir).key();
    const again = await new ClientData(dir).key();
    expect(again).toBe(first);
    expect(statSync(join(dir, 'client.key')).mode & 0o777).toBe(0o600);
    expect(clientIdOf(loadSiteKeys(again).publicKeyPem)).toMatch(/^[0-9a-f]{16}$/);
    // Written through a temporary name: none is left beside it.
    expect(readdirSync(dir)).toEqual(['client.key']);
  });

  it('records deployments crash-safely and reads them back', async () => {
    const data = new ClientData(tempDir('client-state'));
    expect(await data.records()).toEqual({});
    const a = { package: 'C0100001', sourceVersion: 1, state: 'succeeded' as const, exitCode: 0, at: 1 };
    const b = { package: 'C0100002', sourceVersion: 3, state: 'failed' as const, exitCode: 2, at: 2 };
    await data.record('C01D00001', a);
    await data.record('C01D00002', b);
    await data.record('C01D00001', { ...a, sourceVersion: 2 });
    expect(await data.records()).toEqual({ C01D00001: { ...a, sourceVersion: 2 }, C01D00002: b });
    expect(JSON.parse(readFileSync(join(data.dir, 'state.json'), 'utf8')).deployments.C01D00002).toEqual(b);
  });

  it('a damaged state file is refused with a clear error', async () => {
    const data = new ClientData(tempDir('client-state'));
    writeFileSync(join(data.dir, 'state.json'), '{"deploym');
    await expect(data.records()).rejects.toMatchObject({ code: 'OUTPOST_BAD_INPUT' });
  });

  it('keeps how far a partial download got; a state for another file or a damaged one counts as none', async () => {
    const data = new ClientData(tempDir('client-state'));
    const sha = 'a'.repeat(64);
    expect(await data.partState(sha)).toBeNull();
    await data.savePartState({ sha256: sha, size: 100, bytes: 40 });
    expect(await data.partState(sha)).toEqual({ sha256: sha, size: 100, bytes: 40 });
    writeFileSync(data.partStatePath(sha), JSON.stringify({ sha256: 'b'.repeat(64), size: 100, bytes: 40 }));
    expect(await data.partState(sha)).toBeNull();
    writeFileSync(data.partStatePath(sha), '{');
    expect(await data.partState(sha)).toBeNull();
  });
});
