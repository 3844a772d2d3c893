/** Debian's Chromium, driven by playwright-core: no browser download. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
/** Screenshots and other artefacts of the browser tests (git-ignored). */
export const OUTPUT_DIR = join(here, '../../test-output');

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A fresh Chromium with a fresh user-data-dir; `close()` removes both.
 * @returns {Promise<{ context: import('playwright-core').BrowserContext, close: () => Promise<void> }>}
 */
export async function launchChromium() {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const userDataDir = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 800 },
    timeout: 30000,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Loads the demo page (without its default subscription), waits for the
 * connection, and subscribes to `subject` through the page's form.
 * @param {import('playwright-core').Page} page
 * @param {string} baseUrl the gateway's http:// URL
 * @param {string} subject
 * @param {string} [query] more query parameters, e.g. `encoding=binary`
 */
export async function openDemoSubscribed(page, baseUrl, subject, query = '') {
  await page.goto(`${baseUrl}/?subscribe=none&${query}`);
  await page
    .getByTestId('state')
    .filter({ hasText: /^connected$/ })
    .waitFor();
  await page.fill('#sub-subject', subject);
  await page.click('#subscribe');
  await page.locator('#subs li', { hasText: subject }).locator('.pill.subscribed').waitFor();
}
