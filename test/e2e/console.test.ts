import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, waitFor } from '../../src/demo/index.js';
import { readAdminToken } from '../../src/host/index.js';
import type { DeploymentView } from '../../src/mp/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { ListedJob } from '../../src/replication/index.js';
import { collectErrors, launchChromium, screenshot, seriousViolations } from './browser.js';
import { cli, tempDir } from './helpers.js';

/**
 * The web console in Debian's chromium against a real hierarchy, C01 with two secondaries S02 and
 * S03: the tests run in order on one browser page, as an administrator would use it.
 */
describe('the web console', () => {
  let h: Hierarchy;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let app: PackageView;
  const base = tempDir('console');
  const C01 = () => h.sites.C01;

  beforeAll(async () => {
    [h, browser] = await Promise.all([
      startHierarchy(base, [
        { code: 'C01', type: 'central' },
        { code: 'S02', type: 'secondary', parent: 'C01' },
        { code: 'S03', type: 'secondary', parent: 'C01' },
      ]),
      launchChromium(),
    ]);
    const source = join(base, 'app');
    mkdirSync(source, { recursive: true });
    // 600 KiB: at the 100 KiB/s the test sets on S02's address, Pending lasts several seconds.
    writeFileSync(join(source, 'app.bin'), randomBytes(600 * 1024));
    writeFileSync(join(source, 'readme.txt'), 'the console test package\n');
    app = await C01().admin.post<PackageView>('/packages', { name: 'App', source });
    // S03 is the site the test deletes: its jobs stay queued at 1 KiB/s until then.
    await C01().admin.put('/addresses/S03', { rateLimitKiBps: 1 });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
    errors = collectErrors(page);
  }, 600_000);

  afterEach(() => {
    // Each test answers for its own errors (taken out, so one failure does not fail the rest).
    expect(errors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  const expectAccessible = async () => expect(await seriousViolations(page)).toEqual([]);
  const row = (attr: string, value: string) => page.locator(`[${attr}="${value}"]`);

  it('serves the console at / without shadowing the API, the DP or the metrics', async () => {
    const page = await fetch(`${C01().url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(`${C01().url}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toContain('immutable');
    await script.arrayBuffer();
    for (const path of ['/assets/..%2Fsite.json', '/assets/nope.js', '/api/v1/nope', '/index.php']) {
      const res = await fetch(`${C01().url}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('OUTPOST_NOT_FOUND');
    }
    expect((await fetch(`${C01().url}/api/v1/sites`)).status).toBe(401);
    expect((await fetch(`${C01().url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${C01().url}/metrics`)).text()).toContain('# HELP');
    expect((await fetch(`${C01().url}/dp`)).status).toBe(200);
  });

  it('refuses a wrong token with the API reason, then logs in with the admin token', async () => {
    await page.goto(C01().url);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'admin API needs a valid bearer token' }).waitFor();
    await expectAccessible();
    await screenshot(page, 'login-refused');

    const token = await readAdminToken(C01().dataDir);
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Hierarchy' }).waitFor();
    expect(await page.evaluate("sessionStorage.getItem('outpost.token')")).toBe(token);
    expect(await page.evaluate('localStorage.length')).toBe(0);
  });

  it('shows the three sites in the tree, the children under C01, all active', async () => {
    for (const code of ['C01', 'S02', 'S03']) await row('data-site', code).getByText('active').waitFor();
    const order = await page
      .locator('tr[data-site]')
      .evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-site')}:${r.className}`));
    expect(order).toEqual(['C01:depth-0', 'S02:depth-1', 'S03:depth-1']);
    await expectAccessible();
    await screenshot(page, 'hierarchy');
    // Marks this document: if the console reloaded the page, the mark would be gone.
    await page.evaluate('window.outpostMark = true');
  });

  it('opens S02 and edits its address', async () => {
    await row('data-site', 'S02').getByRole('link', { name: 'S02' }).click();
    await page.getByRole('heading', { name: /Site S02/ }).waitFor();
    await page.getByLabel(/Rate limit/).fill('100');
    await page.getByRole('button', { name: 'Save address' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const addresses = await C01().admin.get<{ site: string; rateLimitKiBps: number | null }[]>('/addresses');
    expect(addresses.find((a) => a.site === 'S02')?.rateLimitKiBps).toBe(100);

    await page.getByLabel(/Rate limit/).fill('-5');
    await page.getByRole('button', { name: 'Save address' }).click();
    await page.getByRole('alert').filter({ hasText: 'rateLimitKiBps' }).waitFor();
    await page.getByLabel(/Rate limit/).fill('100');

    await page.getByLabel('Address range').fill('10.1.0.0/16');
    await page.getByRole('button', { name: 'Add boundary' }).click();
    await page
      .getByRole('list', { name: 'Boundaries of S02' })
      .locator('code', { hasText: '10.1.0.0/16' })
      .waitFor();
    expect(await C01().admin.get<{ range: string }[]>('/boundaries', { site: 'S02' })).toContainEqual(
      expect.objectContaining({ range: '10.1.0.0/16' }),
    );
    await expectAccessible();
    await screenshot(page, 'site');
  });

  it('assigns the package to S02 and shows it go from Pending to Installed without a reload', async () => {
    await page.getByRole('link', { name: 'Packages' }).click();
    await page.getByLabel('Search packages').fill('app');
    await row('data-package', app.id).getByRole('link').click();
    await page.getByRole('heading', { name: /App/ }).waitFor();
    await page.getByLabel('Assign to DP').selectOption('S02');
    await page.getByRole('button', { name: 'Assign' }).click();
    const state = page.getByTestId('state-S02');
    await state.getByText('Pending').waitFor();
    await expectAccessible();
    await screenshot(page, 'package-pending');
    await state.getByText('Installed').waitFor({ timeout: 90_000 });
    expect(await page.evaluate('window.outpostMark')).toBe(true);
    await screenshot(page, 'package');
  }, 120_000);

  it("clones S02's assignments to S03, with the dry-run count first", async () => {
    await page.getByRole('link', { name: 'Packages' }).click();
    await page.getByLabel('From DP').selectOption('S02');
    await page.getByLabel('To DP').selectOption('S03');
    await page.getByRole('button', { name: 'Preview clone' }).click();
    await page.getByTestId('clone-preview').getByText('Would assign 1 package to S03').waitFor();
    // The dry run changed nothing.
    expect((await C01().admin.get<unknown[]>('/status/packages', { site: 'S03' })).length).toBe(0);
    await expectAccessible();
    await screenshot(page, 'packages');
    await page.getByRole('button', { name: 'Clone S02 to S03' }).click();
    await page.getByRole('status').filter({ hasText: 'Assigned 1 package to S03' }).waitFor();
    await waitFor('a job to S03', 30_000, async () => openJobs('S03'));
    // The hierarchy shows what each child holds and what waits on the link to it.
    await page.getByRole('link', { name: 'Hierarchy' }).click();
    await row('data-site', 'S03').locator('[data-backlog]').getByText('1 job').waitFor();
    await row('data-site', 'S02').locator('[data-packages]').getByText('1 installed').waitFor();
    await screenshot(page, 'hierarchy-busy');
  });

  it('deletes S03 through the dry-run summary and the typed code, its jobs disappear, then purges it', async () => {
    await page.goto(`${C01().url}/#/sites/S03`);
    await page.getByTestId('open-jobs').getByText('1 open job').waitFor();
    await page.getByRole('button', { name: 'Delete site S03…' }).click();
    await page
      .getByTestId('delete-summary')
      .getByText(/cancel 1 job/)
      .waitFor();
    const now = page.getByRole('button', { name: 'Delete S03 now' });
    expect(await now.isDisabled()).toBe(true);
    await page.getByLabel('Type the site code S03 to confirm').fill('S02');
    expect(await now.isDisabled()).toBe(true);
    await page.getByLabel('Type the site code S03 to confirm').fill('S03');
    await expectAccessible();
    await screenshot(page, 'delete-confirm');
    // S03 frozen: the delete's call telling it to stop waits out its timeout, so the page's next
    // poll sees S03 deleted (and drops the form) before the answer comes; the result must still show.
    const s03 = h.sites.S03.process.child;
    s03.kill('SIGSTOP');
    try {
      await now.click();
      await page.getByRole('status').filter({ hasText: 'Site S03 deleted: 1 job cancelled' }).waitFor();
    } finally {
      s03.kill('SIGCONT');
    }
    await page.getByTestId('open-jobs').getByText('0 open jobs').waitFor();
    expect(await openJobs('S03')).toBe(0);
    // Deleted, the site can be purged: its dry-run counts first.
    await page.getByRole('button', { name: 'Purge S03…' }).click();
    await page
      .getByTestId('purge-summary')
      .getByText(/Would remove/)
      .waitFor();
    await page.getByRole('button', { name: 'Purge S03 now' }).click();
    await page.getByRole('status').filter({ hasText: 'Purged S03' }).waitFor();
    await page.getByRole('link', { name: 'Hierarchy' }).click();
    await page.waitForFunction(
      `(() => { const s03 = document.querySelector('tr[data-site="S03"]'); return !s03 || s03.textContent.includes('deleted'); })()`,
    );
  });

  it("shows a client's report on the Deployments page, the Clients page and the client's own page", async () => {
    await C01().admin.post('/boundaries', { site: 'S02', range: '127.0.2.0/24', name: 's02' });
    const d = await C01().admin.post<DeploymentView>('/deployments', {
      package: app.id,
      command: 'true',
      sites: ['S02'],
    });
    await waitFor('the boundary and deployment at S02', 30_000, async () => {
      const held = await h.sites.S02.admin.get<DeploymentView[]>('/deployments');
      return held.some((x) => x.id === d.id);
    });
    const agent = ['--data', join(base, 'pc-9'), '--mp', h.sites.S02.url, '--bind', '127.0.2.9'];
    const ran = await cli(['client', 'run', ...agent, '--name', 'pc-9', '--once']);
    expect(ran.code, ran.stderr).toBe(0);
    await page.getByRole('link', { name: 'Deployments' }).click();
    const deployed = row('data-deployment', `${d.id}-S02`);
    await deployed.getByText('1 client').click();
    await deployed.getByRole('listitem').filter({ hasText: 'pc-9: succeeded' }).waitFor();
    await expectAccessible();
    await screenshot(page, 'deployments');

    await page.getByRole('link', { name: 'Clients', exact: true }).click();
    const client = page.locator('tr[data-client]', { hasText: 'pc-9' });
    await client.getByText('succeeded').waitFor();
    await expectAccessible();
    await screenshot(page, 'clients');
    await client.getByRole('link', { name: 'pc-9' }).click();
    await page.getByRole('heading', { name: 'Client pc-9' }).waitFor();
    await row('data-deployment', d.id).getByText('succeeded').waitFor();
    await expectAccessible();
    await screenshot(page, 'client');
  });

  it("starts a rebuild of S02 and lists the runbook's steps and their state", async () => {
    await page.goto(`${C01().url}/#/sites/S02`);
    await page.getByRole('button', { name: 'Start rebuild of S02' }).click();
    const steps = page.getByRole('list', { name: 'Rebuild steps' });
    await steps.locator('[data-step="replace"]').getByText('done').waitFor();
    await steps.locator('[data-step="join"]').waitFor();
    await steps.locator('[data-step="verify"]').waitFor();
    await page.locator('p', { hasText: 'Join token for the new host' }).waitFor();
    await expectAccessible();
    await screenshot(page, 'rebuild');
  });

  it('shows the status messages, filtered', async () => {
    await page.getByRole('link', { name: 'Status messages' }).click();
    await page.getByLabel('Site').fill('S02');
    await page.getByLabel('Component').selectOption('dp');
    await page
      .getByRole('cell', { name: /installed on DP S02/ })
      .first()
      .waitFor();
    await expectAccessible();
    await screenshot(page, 'messages');
  });

  it('reads on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Hierarchy' }).click();
    await row('data-site', 'S02').waitFor();
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBe(0);
    await expectAccessible();
    await screenshot(page, 'hierarchy-phone');
  });

  async function openJobs(site: string): Promise<number> {
    const jobs = await C01().admin.get<ListedJob[]>('/jobs', { site });
    return jobs.filter((j) => ['pending', 'active', 'retrying'].includes(j.state)).length;
  }
});
