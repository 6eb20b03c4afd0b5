/**
 * `dp clone` of 10,000 assignments against its target of 2 s (the issue's; no other tool clones a
 * DP's assignments to compare with): a real SQLite database of a central site C01 with 10,000
 * packages assigned to S02, cloned to S02/lab — the dry run, the clone (one transaction), and
 * distmgr's next round, which makes the 10,000 jobs to S02 in batched transactions.
 *
 *   npm run build && node dist/bench/clone.js [--packages N] [--json]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileContentStore } from '../src/content/index.js';
import { TransferRegistry } from '../src/core/index.js';
import { createLoggers } from '../src/logs/index.js';
import { cloneDp, reconcile } from '../src/replication/index.js';
import { cloneFixture } from '../test/clone-fixture.js';
import { machineInfo } from './tools.js';

const TARGET_MS = 2000;

const { values } = parseArgs({
  options: { packages: { type: 'string', default: '10000' }, json: { type: 'boolean', default: false } },
});
const packages = Number(values.packages);
const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-clone-'));
try {
  const f = await cloneFixture(dir, packages);
  const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    const start = performance.now();
    const result = await work();
    return [result, performance.now() - start];
  };
  const [dry, dryMs] = await timed(() => cloneDp(f.ctx, { from: 'S02', to: 'S02/lab', dryRun: true }));
  const [done, cloneMs] = await timed(() => cloneDp(f.ctx, { from: 'S02', to: 'S02/lab' }));
  if (dry.added.length !== packages || done.added.length !== packages)
    throw new Error(`expected ${packages} added, got ${dry.added.length} and ${done.added.length}`);
  const ctx = {
    ...f.ctx,
    store: new FileContentStore(join(dir, 'chunks')),
    log: createLoggers(join(dir, 'logs'), 'C01').log,
    transfers: new TransferRegistry(),
  };
  const [, distmgrMs] = await timed(() => reconcile(ctx));
  const jobs = await f.ctx.db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const result = {
    machine: machineInfo(),
    packages,
    dryRunMs: Math.round(dryMs),
    cloneMs: Math.round(cloneMs),
    targetMs: TARGET_MS,
    withinTarget: cloneMs < TARGET_MS,
    distmgrRoundMs: Math.round(distmgrMs),
    jobsMade: Number(jobs.n),
  };
  await f.close();
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(
      `dp clone of ${packages} assignments (${result.machine.cpu}, ${result.machine.nproc} cores)\n`,
    );
    process.stdout.write(`  dry run         ${result.dryRunMs} ms\n`);
    process.stdout.write(
      `  clone           ${result.cloneMs} ms  (target ${TARGET_MS} ms: ${result.withinTarget ? 'met' : 'MISSED'})\n`,
    );
    process.stdout.write(
      `  distmgr round   ${result.distmgrRoundMs} ms  (${result.jobsMade} jobs made to S02)\n`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
