/** Debian's Chromium, driven by playwright-core: no browser download. */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { launchFreshChromium } from './chromium.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Screenshots and other artefacts of the browser tests (git-ignored). */
export const OUTPUT_DIR = join(here, '../../test-output');

/**
 * A fresh Chromium with a fresh user-data-dir; `close()` removes both.
 * @returns {Promise<{ context: import('playwright-core').BrowserContext, close: () => Promise<void> }>}
 */
export async function launchChromium() {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  return launchFreshChromium(chromium, { width: 1280, height: 800 });
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
