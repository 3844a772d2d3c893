/**
 * Real `sluice serve` processes for the tests: on a free loopback port, with a
 * config file of the test's choosing, killed when the test ends or the process
 * exits (also on failure).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The gateway binary: env SLUICE_BIN, else the debug build of the repository. */
export const SLUICE_BIN = resolve(process.env.SLUICE_BIN ?? join(here, '../../../../target/debug/sluice'));

/** The environment without `SLUICE_*` variables, which would override the config. */
function gatewayEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLUICE_')));
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const running = new Set();
const killAll = () => {
  for (const child of running) child.kill('SIGKILL');
};
process.on('exit', killAll);
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Time a gateway has to print its listening line. */
const START_TIMEOUT_MS = 15000;

/** A temporary directory for config files and the like. */
export function scratchDir() {
  return mkdtempSync(join(tmpdir(), 'sluice-js-'));
}

export class Gateway {
  /**
   * @param {{ toml?: string, listen?: string, dir?: string }} [options]
   *   toml: the config file's text (default: exposed topics demo and chat)
   */
  static async start(options = {}) {
    const dir = options.dir ?? scratchDir();
    const config = join(dir, `sluice-${Date.now()}-${Math.random().toString(36).slice(2)}.toml`);
    writeFileSync(config, options.toml ?? '[gateway]\nexposed_topics = ["demo", "chat", "_inbox"]\n');
    const gateway = new Gateway(config, dir);
    await gateway.spawn(options.listen ?? '127.0.0.1:0');
    return gateway;
  }

  /**
   * @param {string} config
   * @param {string} dir
   */
  constructor(config, dir) {
    this.config = config;
    this.dir = dir;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.child = null;
    this.url = '';
    this.listen = '';
    /** The admin listener's base URL (the Portal's API), e.g. `http://127.0.0.1:40123`. */
    this.adminUrl = '';
  }

  /** @param {string} listen */
  spawn(listen) {
    const child = spawn(
      SLUICE_BIN,
      ['serve', '--config', this.config, '--listen', listen, '--admin-listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: gatewayEnv(), cwd: this.dir },
    );
    running.add(child);
    this.child = child;
    child.on('exit', () => running.delete(child));
    /** @type {string[]} */
    const stderr = [];
    child.stderr?.on('data', (chunk) => {
      stderr.push(String(chunk));
      if (stderr.length > 20) stderr.shift();
    });
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`sluice serve did not listen within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) });
      /** @type {string[]} */
      const banner = [];
      lines.on('line', (line) => {
        banner.push(line);
        const admin = /^admin on (http:\/\/\S+)/.exec(line);
        if (admin) this.adminUrl = admin[1];
        const url = line.startsWith('listening on ') ? line.slice('listening on '.length).trim() : null;
        if (url) {
          clearTimeout(timer);
          this.url = url;
          this.listen = new URL(url).host;
          resolvePromise(this);
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(
          new Error(
            `sluice serve exited (${code}) before listening: ${banner.join(' | ')} ${stderr.join('')}`,
          ),
        );
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${SLUICE_BIN}: ${err.message}`));
      });
    });
  }

  /** The base HTTP URL of the listener, e.g. `http://127.0.0.1:40123`. */
  get httpUrl() {
    return `http://${this.listen}`;
  }

  /** Kills the gateway at once, as a crash would; resolves once it is gone. */
  async kill() {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** Kills it and starts it again on the same address and in the same directory, where the embedded log is. */
  async restart() {
    await this.kill();
    await this.spawn(this.listen);
  }

  /** @param {NodeJS.Signals} signal */
  signal(signal) {
    this.child?.kill(signal);
  }

  /**
   * Runs a `sluice` subcommand (`pub`, `token`, ...) to completion.
   * @param {string[]} args
   * @returns {string} its stdout
   */
  static cli(args) {
    const run = spawnSync(SLUICE_BIN, args, { encoding: 'utf8', timeout: 15000, env: gatewayEnv() });
    if (run.status !== 0) throw new Error(`sluice ${args.join(' ')} failed: ${run.stderr}`);
    return run.stdout;
  }

  /**
   * Publishes with the CLI, as a separate app would: `sluice pub <url> <subject> <data>`.
   * @param {string} subject
   * @param {string} data
   * @returns {{ seq: number, epoch: string }} the ack
   */
  pub(subject, data) {
    const ack = JSON.parse(Gateway.cli(['pub', this.url, subject, data]).trim().split('\n').pop() ?? '');
    return { seq: ack.seq, epoch: ack.epoch };
  }

  /**
   * Writes a file next to the config (a revocation list, ...).
   * @param {string} name
   * @param {string} text
   */
  writeFile(name, text) {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }
}

/**
 * Resolves when `predicate()` is true, checking every 10 ms; rejects after `ms`.
 * @param {() => boolean} predicate
 * @param {string} what
 * @param {number} [ms]
 */
export async function until(predicate, what, ms = 15000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A ws:// URL on a loopback port on which nothing listens. */
export async function deadUrl() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  await new Promise((r) => server.close(r));
  return `ws://127.0.0.1:${port}/v1/ws`;
}
