import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's chromium: the tests drive it, and never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Screenshots the browser tests take (git-ignored; a few are copied to docs/ by hand). */
export const SCREENSHOTS = fileURLToPath(new URL('../../.tmp/console-screenshots', import.meta.url));

/** Installs Debian's chromium with apt-get when it is not there (a fresh CI machine). */
export async function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  const run = promisify(execFile);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Headless chromium as the console tests use it. */
export async function launchChromium(): Promise<Browser> {
  await ensureChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

// The API's refusals the console shows as their one-line reason (bad input: 400, a wrong token:
// 401, no rebuild yet: 404) still show in chromium's console as "Failed to load resource";
// anything else there is a fault.
const EXPECTED_HTTP = /^Failed to load resource: the server responded with a status of (400|401|404)/;

/** Every error the page logs or throws, to fail the test on (see EXPECTED_HTTP for the exception). */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !EXPECTED_HTTP.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`page: ${err.message}`));
  return errors;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // evaluate, not a script tag: the console's Content-Security-Policy refuses inline scripts.
  await page.evaluate(axeSource);
  const violations = (await page.evaluate('axe.run().then((r) => r.violations)')) as AxeViolation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`,
    );
}

/** Saves a full-page screenshot under SCREENSHOTS. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
