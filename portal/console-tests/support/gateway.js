/**
 * `sluice serve` as a real process on free loopback ports, with a config file of
 * the test's choosing; killed when the test ends or this process exits.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The gateway binary: env SLUICE_BIN, else the repository's debug build. */
export const SLUICE_BIN = resolve(process.env.SLUICE_BIN ?? join(here, '../../../target/debug/sluice'));

/** Time a gateway has to print its listening line. */
const START_TIMEOUT_MS = 20000;

/** @type {Set<import('node:child_process').ChildProcess>} */
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The environment without `SLUICE_*` variables, which would override the config. */
function gatewayEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLUICE_')));
}

export class Gateway {
  /**
   * Starts a gateway; `toml(dir)` gives the config file's text for a fresh
   * scratch directory (the Portal's data_dir goes there).
   * @param {(dir: string) => string} toml
   */
  static async start(toml) {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-portal-'));
    const config = join(dir, 'sluice.toml');
    writeFileSync(config, toml(dir));
    const child = spawn(
      SLUICE_BIN,
      ['serve', '--config', config, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: gatewayEnv(), cwd: dir },
    );
    running.add(child);
    child.on('exit', () => running.delete(child));
    /** @type {string[]} */
    const stderr = [];
    child.stderr?.on('data', (chunk) => {
      stderr.push(String(chunk));
      if (stderr.length > 20) stderr.shift();
    });
    const { url, adminUrl } = await new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`sluice serve did not listen within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) });
      let adminUrl = '';
      lines.on('line', (line) => {
        if (line.startsWith('admin on ')) adminUrl = line.slice('admin on '.length).split(/\s/)[0];
        if (line.startsWith('listening on ')) {
          clearTimeout(timer);
          resolvePromise({ url: line.slice('listening on '.length).trim(), adminUrl });
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sluice serve exited (${code}) before listening: ${stderr.join('')}`));
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${SLUICE_BIN}: ${err.message}`));
      });
    });
    return new Gateway(child, dir, url, adminUrl);
  }

  /**
   * @param {import('node:child_process').ChildProcess} child
   * @param {string} dir
   * @param {string} url the WebSocket URL
   * @param {string} adminUrl e.g. `http://127.0.0.1:40123`
   */
  constructor(child, dir, url, adminUrl) {
    this.child = child;
    this.dir = dir;
    this.url = url;
    this.adminUrl = adminUrl;
  }

  async stop() {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
