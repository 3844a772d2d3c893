/**
 * Debian's Chromium, started the way every browser test of the project starts it
 * (the SDK's and the Portal console's): headless, with a fresh user-data-dir and
 * nothing that reaches for the network. It imports nothing from npm: each test
 * package passes its own playwright-core `chromium`, so this file can be shared
 * by relative import.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Without the network flags Chromium's own connections are refused here, many at a time. */
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
 * A fresh Chromium; `close()` closes it and removes its user-data-dir.
 * @template {{ close(): Promise<void> }} Context
 * @param {{ launchPersistentContext(dir: string, options: object): Promise<Context> }} chromium
 *   playwright-core's `chromium`
 * @param {{ width: number, height: number }} viewport
 * @returns {Promise<{ context: Context, close: () => Promise<void> }>}
 */
export async function launchFreshChromium(chromium, viewport) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    args: ARGS,
    headless: true,
    viewport,
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
