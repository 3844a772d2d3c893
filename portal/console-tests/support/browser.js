/** Debian's Chromium, driven by playwright-core: no browser download. */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
// The launcher every browser test of the project shares (it imports nothing from npm).
import { launchFreshChromium } from '../../../sdk/js/test/support/chromium.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Screenshots of the console tests (git-ignored). */
export const OUTPUT_DIR = join(here, '../test-output');

/**
 * A fresh Chromium with a fresh user-data-dir; `close()` removes both. Page errors
 * and console errors are collected in `errors`.
 */
export async function launchChromium() {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const { context, close } = await launchFreshChromium(chromium, { width: 1280, height: 860 });
  /** @type {string[]} */
  const errors = [];
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return {
    page,
    errors,
    close,
  };
}

/**
 * Saves a full-page screenshot as `test-output/<name>.png`.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  await page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: true });
}
