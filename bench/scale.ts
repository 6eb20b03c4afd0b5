/**
 * P9 of issue #12: a central site with many secondaries and packages. The hierarchy is records
 * only (site rows with a key, addresses, packages complete here, assignments, what each child was
 * given, package status per DP): no child runs, and the addresses' schedules keep every link shut,
 * so nothing is sent. distmgr and the status queries run in this process against the site's own
 * database. It measures:
 *
 * - a full distmgr round (what the server runs at start and every five minutes as a safety net);
 * - one distmgr round with nothing changed;
 * - assigning one new package to every site: from the assign until every job exists;
 * - `status packages --site CODE` (one site's rows) and the hierarchy-wide summary as
 *   `GET /api/v1/status/summary` reads it (`summarizeSites`), with counting the status rows
 *   themselves for comparison.
 *
 *   npm run bench:scale -- [--sites 500] [--packages 5000] [--per-site 2500] [--db sqlite|postgres] [--json]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { systemClock } from '../src/common/index.js';
import { FileContentStore } from '../src/content/index.js';
import { TransferRegistry, Wake } from '../src/core/index.js';
import { openDatabase } from '../src/db/index.js';
import { databaseConfigOf, dataPaths, readSiteConfig } from '../src/host/index.js';
import { createLoggers } from '../src/logs/index.js';
import { assignPackage, reconcile } from '../src/replication/index.js';
import { generateSiteKeys } from '../src/s2s/index.js';
import { initCentral, summarizeSites } from '../src/sites/index.js';
import { listPackageStatus } from '../src/status/index.js';
import { packageRow } from '../test/sites.js';
import { machineInfo, runBenchmark } from './tools.js';

const PG_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const BATCH = 1000;

const siteCode = (i: number) => `X${i.toString(36).toUpperCase().padStart(2, '0')}`;
const packageId = (i: number) => `C01${(i + 1).toString(16).toUpperCase().padStart(5, '0')}`;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const value = await fn();
  return [performance.now() - start, value];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

runBenchmark('scale', async (tmp, onStop) => {
  const { values } = parseArgs({
    options: {
      sites: { type: 'string', default: '500' },
      packages: { type: 'string', default: '5000' },
      'per-site': { type: 'string', default: '2500' },
      db: { type: 'string', default: 'sqlite' },
      json: { type: 'boolean', default: false },
    },
  });
  const sites = Number(values.sites);
  const packages = Number(values.packages);
  const perSite = Number(values['per-site']);
  if (
    ![sites, packages, perSite].every((n) => Number.isInteger(n) && n > 0) ||
    sites > 1296 ||
    perSite > packages
  )
    throw new Error(
      '--sites (at most 1296), --packages and --per-site (at most --packages) are positive integers',
    );
  if (values.db !== 'sqlite' && values.db !== 'postgres') throw new Error('--db is sqlite or postgres');
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));

  const dataDir = join(tmp, 'C01');
  await initCentral({
    dataDir,
    code: 'C01',
    listen: '127.0.0.1:9',
    ...(values.db === 'postgres' ? { database: PG_URL } : {}),
  });
  const config = await readSiteConfig(dataDir);
  const paths = dataPaths(dataDir);
  const { db, close } = await openDatabase(databaseConfigOf(config, paths));
  onStop(async () => {
    await close();
    const schema = config.database?.schema;
    if (!schema) return;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  });

  // The records: every link shut by a schedule whose window is hours away, so nothing is sent.
  const shut = `${(new Date().getHours() + 6) % 24}-${(new Date().getHours() + 7) % 24}`;
  const key = generateSiteKeys().publicKeyPem;
  const now = Date.now();
  const insert = async <T>(rows: T[], into: (batch: T[]) => Promise<unknown>) => {
    for (let i = 0; i < rows.length; i += BATCH) await into(rows.slice(i, i + BATCH));
  };
  const [setupMs] = await timed(async () => {
    const codes = Array.from({ length: sites }, (_, i) => siteCode(i));
    await insert(codes, (batch) =>
      db
        .insertInto('sites')
        .values(
          batch.map((code) => ({
            code,
            type: 'secondary' as const,
            relation: 'child' as const,
            parent_code: 'C01',
            name: code,
            url: 'http://127.0.0.1:9',
            state: 'active' as const,
            generation: `${code.toLowerCase()}-generation`,
            public_key: key,
            join_token_hash: null,
            join_expires_at: null,
            join_deadline_ms: null,
            last_contact: now,
            error: null,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute(),
    );
    await insert(codes, (batch) =>
      db
        .insertInto('addresses')
        .values(
          batch.map((code) => ({
            site_code: code,
            url: 'http://127.0.0.1:9',
            rate_limit_kbps: null,
            schedule: shut,
            concurrency: 1,
            retries: 2,
            retry_delay_ms: 60_000,
            updated_at: now,
          })),
        )
        .execute(),
    );
    const ids = Array.from({ length: packages + 1 }, (_, i) => packageId(i));
    await insert(ids, (batch) => db.insertInto('packages').values(batch.map(packageRow)).execute());
    // Site i holds packages i·k … i·k + perSite (mod packages): every package is assigned somewhere.
    for (let s = 0; s < sites; s++) {
      const code = codes[s];
      const held = Array.from({ length: perSite }, (_, k) => ids[(s * 7 + k) % packages]);
      await db.transaction().execute(async (trx) => {
        await insert(held, (batch) =>
          trx
            .insertInto('assignments')
            .values(batch.map((id) => ({ package_id: id, dp: code, site_code: code, created_at: now })))
            .execute(),
        );
        await insert(held, (batch) =>
          trx
            .insertInto('deliveries')
            .values(
              batch.map((id) => ({
                site_code: code,
                package_id: id,
                source_version: 1,
                dps: JSON.stringify([code]),
                updated_at: now,
              })),
            )
            .execute(),
        );
        await insert(held, (batch) =>
          trx
            .insertInto('package_status')
            .values(
              batch.map((id) => ({
                package_id: id,
                dp: code,
                site_code: code,
                source_version: 1,
                state: 'Installed',
                error: null,
                updated_at: now,
              })),
            )
            .execute(),
        );
      });
    }
  });
  const total = sites * perSite;
  say(
    `${values.db}: ${sites} sites, ${packages} packages, ${perSite} assignments a site (${total} in all); records written in ${(setupMs / 1000).toFixed(1)} s`,
  );

  const loggers = createLoggers(paths.logs, 'C01');
  const ctx = {
    clock: systemClock,
    config,
    db,
    log: loggers.log,
    sink: { site: 'C01', hasParent: false },
    store: new FileContentStore(paths.chunks),
    transfers: new TransferRegistry(),
    wake: new Wake(),
  };

  // The server's first round is a full one (it also takes the marks the bulk load left); then
  // nothing changed: what every other wake-up of distmgr costs.
  const [fullMs] = await timed(() => reconcile(ctx, 'all'));
  const idle: number[] = [];
  for (let i = 0; i < 3; i++) idle.push((await timed(() => reconcile(ctx, 'changed')))[0]);
  const jobsAfterIdle = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();

  // A new package to every site: from the assign until every job exists.
  const fresh = packageId(packages);
  const dps = Array.from({ length: sites }, (_, i) => siteCode(i));
  const [assignMs] = await timed(async () => {
    await assignPackage(ctx, fresh, dps);
    await reconcile(ctx, 'changed');
  });
  const made = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('package_id', '=', fresh)
    .executeTakeFirstOrThrow();

  const one: number[] = [];
  for (let i = 0; i < 3; i++)
    one.push((await timed(() => listPackageStatus(db, { site: siteCode(i * 7) })))[0]);
  // The summary as GET /api/v1/status/summary reads it (counters kept with the status rows), and
  // for comparison the same counts taken from the status rows themselves.
  const summary: number[] = [];
  let summarized: Awaited<ReturnType<typeof summarizeSites>> = [];
  for (let i = 0; i < 3; i++) {
    const [ms, rows] = await timed(() => summarizeSites(db));
    summary.push(ms);
    summarized = rows;
  }
  const counted: number[] = [];
  for (let i = 0; i < 3; i++)
    counted.push(
      (
        await timed(() =>
          db
            .selectFrom('package_status')
            .select(['site_code', 'state', (eb) => eb.fn.countAll<number>().as('n')])
            .groupBy(['site_code', 'state'])
            .execute(),
        )
      )[0],
    );
  const installedSeen = summarized.reduce((n, r) => n + r.packages.Installed, 0);

  const result = {
    db: values.db,
    sites,
    packages,
    perSite,
    assignments: total,
    fullRoundMs: Math.round(fullMs),
    idleRoundMs: Math.round(median(idle)),
    jobsMadeByIdleRounds: Number(jobsAfterIdle.n),
    assignToEverySiteMs: Math.round(assignMs),
    jobsMade: Number(made.n),
    statusOneSiteMs: Math.round(median(one)),
    summaryMs: Math.round(median(summary)),
    countedFromRowsMs: Math.round(median(counted)),
    machine: machineInfo(),
  };
  const verdict = (ms: number, target: number) =>
    `${ms} ms (target < ${target} ms: ${ms < target ? 'met' : 'MISSED'})`;
  say(`one full distmgr round (at start, then every 5 minutes): ${result.fullRoundMs} ms`);
  say(`one distmgr round, nothing changed: ${verdict(result.idleRoundMs, 200)}`);
  say(
    `assign one package to all ${sites} sites until its ${result.jobsMade} jobs exist: ${verdict(result.assignToEverySiteMs, 10_000)}`,
  );
  say(`status packages --site CODE (${perSite} rows): ${verdict(result.statusOneSiteMs, 200)}`);
  say(
    `hierarchy-wide summary (GET /api/v1/status/summary's query path, ${summarized.length} sites): ${verdict(result.summaryMs, 200)}`,
  );
  say(
    `  the same counts taken from the ${total} status rows: ${result.countedFromRowsMs} ms (${(result.countedFromRowsMs / Math.max(1, result.summaryMs)).toFixed(1)}x the summary)`,
  );
  if (values.json) console.log(JSON.stringify(result));
  if (installedSeen !== total) {
    console.error(`error: the summary counts ${installedSeen} Installed, the records ${total}`);
    process.exitCode = 1;
  }
  if (result.jobsMade !== sites || result.jobsMadeByIdleRounds !== 0) {
    console.error(`error: expected ${sites} jobs for the new package and none from idle rounds`);
    process.exitCode = 1;
  }
});
