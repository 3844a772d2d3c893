/** Collects what a subscription and a client report, for assertions. */
import { after } from 'node:test';
import WebSocket from 'ws';
import { Client } from '../../src/sluice.js';
import { until } from './gateway.js';

/** Every client a test made, closed when its file ends, also after a failure. */
/** @type {Set<Client>} */
const clients = new Set();
after(() => Promise.all([...clients].map((c) => c.close())));

/**
 * A `Client` on Node (with the `ws` package) whose states and errors are recorded.
 * @param {import('../../src/client.js').ClientOptions | any} options
 */
export function nodeClient(options) {
  const client = new Client({ WebSocket, reconnect: { minDelayMs: 100, maxDelayMs: 1000 }, ...options });
  clients.add(client);
  /** @type {string[]} */
  const states = [];
  /** @type {import('../../src/error.js').SluiceError[]} */
  const errors = [];
  client.on('state', (s) => states.push(s));
  client.on('error', (e) => errors.push(e));
  return { client, states, errors };
}

/** A subscription's messages and statuses, in arrival order. */
export class Recorder {
  constructor() {
    /** @type {import('../../src/protocol.js').Message[]} */
    this.messages = [];
    /** @type {any[]} */
    this.statuses = [];
    /** @type {any[]} messages and statuses interleaved */
    this.events = [];
    this.onMessage = (/** @type {any} */ m) => {
      this.messages.push(m);
      this.events.push(m);
    };
    this.onStatus = (/** @type {any} */ s) => {
      this.statuses.push(s);
      this.events.push({ status: s });
    };
  }

  /** @param {string} data */
  async message(data) {
    await until(() => this.messages.some((m) => m.data === data), `message ${data}`);
    return /** @type {import('../../src/protocol.js').Message} */ (
      this.messages.find((m) => m.data === data)
    );
  }

  /** @param {any} status */
  async status(status, count = 1) {
    const same = (/** @type {any} */ s) => JSON.stringify(s) === JSON.stringify(status);
    await until(
      () => this.statuses.filter(same).length >= count,
      `status ${JSON.stringify(status)} x${count}`,
    );
  }

  /**
   * Resolves with the `{ error, message }` status once one with `code` came.
   * @param {string} code
   */
  async errorStatus(code) {
    await until(() => this.statuses.some((s) => s?.error === code), `status error ${code}`);
    return this.statuses.find((s) => s?.error === code);
  }

  /** The data of the messages, in order. */
  data() {
    return this.messages.map((m) => m.data);
  }
}
