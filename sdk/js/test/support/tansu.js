/**
 * A real Kafka-protocol broker for the tests: tansu (which `cargo xtask test`
 * installs), on a free loopback port with SQLite storage in a temporary directory,
 * killed when the test file ends or the process exits. The same broker the Rust
 * tests use (`tests/common/tansu.rs`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The tansu binary: $SLUICE_TANSU, else cargo's bin directory, else the PATH. */
function tansuBinary() {
  if (process.env.SLUICE_TANSU) return process.env.SLUICE_TANSU;
  const cargoHome = process.env.CARGO_HOME ?? join(homedir(), '.cargo');
  const installed = join(cargoHome, 'bin', 'tansu');
  return existsSync(installed) ? installed : 'tansu';
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
      server.close(() => resolve(port));
    });
  });
}

/** @param {number} port */
function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export class Tansu {
  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-js-tansu-'));
    const port = await freePort();
    const url = `tcp://127.0.0.1:${port}`;
    const log = openSync(join(dir, 'tansu.log'), 'w');
    const child = spawn(
      tansuBinary(),
      [
        'broker',
        '--listener-url',
        url,
        '--advertised-listener-url',
        url,
        '--storage-engine',
        'sqlite://tansu.db?maintenance_interval=1s',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', log] },
    );
    const spawned = new Promise((_, reject) =>
      child.once('error', (err) =>
        reject(new Error(`cannot run tansu (${err}); \`cargo xtask test\` installs it`)),
      ),
    );
    process.on('exit', () => child.kill('SIGKILL'));
    const deadline = Date.now() + 30000;
    while (!(await Promise.race([listening(port), spawned]))) {
      if (Date.now() > deadline) throw new Error(`tansu did not listen within 30 s; see ${dir}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return new Tansu(child, dir, port);
  }

  /**
   * @param {import('node:child_process').ChildProcess} child
   * @param {string} dir
   * @param {number} port
   */
  constructor(child, dir, port) {
    this.child = child;
    this.dir = dir;
    this.bootstrap = `127.0.0.1:${port}`;
    this.url = `tcp://127.0.0.1:${port}`;
  }

  /**
   * @param {string} name
   * @param {number} partitions
   */
  createTopic(name, partitions) {
    const out = spawnSync(
      tansuBinary(),
      ['topic', 'create', name, '--partitions', String(partitions), '--broker', this.url],
      { cwd: this.dir, encoding: 'utf8' },
    );
    if (out.status !== 0) throw new Error(`tansu topic create ${name}: ${out.stderr}`);
  }

  kill() {
    this.child.kill('SIGKILL');
  }
}
