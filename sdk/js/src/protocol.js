/**
 * The client side of protocol v1 as a sans-IO state machine: no socket, no
 * timer, no clock. The driver (`client.js`) feeds it inputs with the current time
 * (`handle*` and the commands), then drains it of outputs (`pollOutput`) and asks
 * when to wake it next (`pollTimeout`). It owns the requests in flight, the
 * publishes waiting for a connection, the resume position and de-duplication per
 * subject, and the reconnect decisions (which server, after how long).
 *
 * Drain order: after every input, call `pollOutput` until it returns `undefined`,
 * then `pollTimeout`.
 */
import { Backoff } from './backoff.js';
import { decodeBinary, encodeBinary } from './binary_codec.js';
import { SluiceError } from './error.js';
import { InFlight } from './in_flight.js';
import { decodeJson, encodeJson } from './json_codec.js';
import { Positions } from './positions.js';
import { ServerList } from './server_list.js';
import { subjectProblem } from './subject.js';
import { payloadBytes } from './payload.js';

/**
 * @typedef {'snapshot' | 'update' | 'recovered' | 'history'} MessageType
 * @typedef {'connecting' | 'connected' | 'disconnected' | 'closed'} ConnectionState
 * @typedef {{ epoch: string, seq: number }} Position
 *
 * @typedef {Record<string, string | Uint8Array>} Headers
 *
 * @typedef {{ op: 'subscribe', id: number, subjects: string[], history?: number, resume?: Record<string, Position>, headers?: boolean,
 *   conflateMs?: number, historyEnd?: boolean, delta?: boolean }
 *   | { op: 'unsubscribe', id: number, subjects: string[] }
 *   | { op: 'publish', id: number, subject: string, data: string | Uint8Array, retained: boolean,
 *       qos: 'standard' | 'guaranteed', replyTo?: string, traceparent?: string }
 *   | { op: 'ping', id: number }
 *   | { op: 'auth', id: number, token: string }} Request
 *
 * @typedef {{ op: 'ok', id: number }
 *   | { op: 'error', id: number | undefined, subject: string | undefined, code: string, message: string }
 *   | { op: 'ack', id: number, epoch: string, seq: number }
 *   | { op: 'message', subject: string, epoch: string, seq: number, type: MessageType, data: string | Uint8Array | null,
 *       headers: Headers | undefined, headersTruncated: boolean, delta?: boolean }
 *   | { op: 'status', status: string, subject: string | undefined, expiresInMs: number | undefined,
 *       complete?: boolean }} ServerFrame
 *
 * @typedef {{ subject: string, data: string | Uint8Array | null, seq: number, epoch: string, type: MessageType,
 *   headers?: Headers, headersTruncated?: boolean }} Message
 * @typedef {'subscribed' | 'sync' | 'resync' | 'history_complete' | 'history_incomplete'
 *   | { error: string, message?: string }} SubscriptionStatus
 *
 * @typedef {{ type: 'connect', connection: number, url: string }
 *   | { type: 'send', connection: number, bytes: string | Uint8Array }
 *   | { type: 'disconnect', connection: number, code: number, reason: string }
 *   | { type: 'state', state: ConnectionState }
 *   | { type: 'message', message: Message }
 *   | { type: 'status', subject: string, status: SubscriptionStatus }
 *   | { type: 'published', id: number, ack: Position }
 *   | { type: 'publishFailed', id: number, error: SluiceError }
 *   | { type: 'tokenExpiring', expiresInMs: number }
 *   | { type: 'error', error: SluiceError }} Output
 *
 * @typedef {object} ProtocolOptions
 * @property {Array<string | { url: string, weight?: number }>} servers
 * @property {'json' | 'binary'} encoding
 * @property {number} minDelayMs
 * @property {number} maxDelayMs
 * @property {number} publishTimeoutMs
 * @property {number} pendingPublishesMax
 * @property {'queue' | 'reject'} whileDisconnected
 * @property {number} frameBytesMax
 * @property {number} connectTimeoutMs
 * @property {boolean} reconnectOnAuthClose
 * @property {() => number} random
 */

/** Close codes after which reconnecting with the same static token is useless. */
const AUTH_CLOSE_CODES = [4001, 4002, 4003];

export class ClientProtocol {
  /**
   * @param {ProtocolOptions} options
   * @param {number} now milliseconds, any monotonic origin
   */
  constructor(options, now) {
    this.options = options;
    this.servers = new ServerList(options.servers, options.random);
    this.backoff = new Backoff(options.minDelayMs, options.maxDelayMs, options.random);
    this.positions = new Positions();
    this.inFlight = new InFlight(options.pendingPublishesMax);
    /** @type {Output[]} */
    this.outputs = [];
    /** @type {ConnectionState} */
    this.state = 'disconnected';
    /** Id of the current transport connection; events of older ones are ignored. */
    this.connection = 0;
    /** @type {string | null} url of the current connection */
    this.url = null;
    this.open = false;
    /** @type {number | null} when to start the next connection attempt */
    this.reconnectAt = now;
    /** @type {number | null} an attempt not open by then is given up */
    this.connectDeadline = null;
    this.nextId = 1;
    this.encode = options.encoding === 'binary' ? encodeBinary : encodeJson;
  }

  // ---- getters ----

  /** @returns {ConnectionState} */
  connectionState() {
    return this.state;
  }

  // ---- commands ----

  /**
   * Subscribes (or renews) `subject`. Throws `SluiceError` for a bad subject or option.
   * @param {number} now
   * @param {string} subject
   * @param {import('./positions.js').Asked} [asked] `history`; protocol 1.1: `headers` (messages carry
   *   their record headers), `conflateMs` (at most one live message per this many ms, the latest),
   *   `delta` (values come as deltas when smaller; the client rebuilds them)
   */
  subscribe(now, subject, asked = {}) {
    this.checkNotClosed();
    const problem = subjectProblem(subject);
    if (problem) throw new SluiceError('invalid_subject', problem, { subject });
    const { history, conflateMs } = asked;
    for (const key of /** @type {const} */ (['headers', 'delta'])) {
      if (asked[key] !== undefined && typeof asked[key] !== 'boolean') {
        throw new SluiceError('invalid_argument', `${key} is a boolean`);
      }
    }
    if (history !== undefined && !(Number.isInteger(history) && history >= 0 && history <= 0xffffffff)) {
      throw new SluiceError('invalid_argument', 'history is an integer from 0 to 2^32-1');
    }
    if (
      conflateMs !== undefined &&
      !(Number.isInteger(conflateMs) && conflateMs >= 100 && conflateMs <= 3600000)
    ) {
      throw new SluiceError('invalid_argument', 'conflateMs is an integer from 100 to 3600000');
    }
    this.positions.subscribe(subject, asked);
    if (this.open) this.sendSubscribe([subject], {}, asked);
  }

  /**
   * @param {number} now
   * @param {string} subject
   */
  unsubscribe(now, subject) {
    if (!this.positions.has(subject)) return;
    this.positions.unsubscribe(subject);
    if (this.open) {
      const id = this.nextId++;
      this.send({ op: 'unsubscribe', id, subjects: [subject] });
      this.inFlight.sentRequest(id, { op: 'unsubscribe' });
    }
  }

  /**
   * Publishes; the answer comes as a `published` or `publishFailed` output with
   * the returned id. Throws `SluiceError` for bad input or a full queue.
   * @param {number} now
   * @param {string} subject
   * @param {string | Uint8Array} data
   * @param {{ retained?: boolean, qos?: 'standard' | 'guaranteed', replyTo?: string, traceparent?: string }} [options]
   * @returns {number} the request id
   */
  publish(now, subject, data, options = {}) {
    this.checkNotClosed();
    const problem = subjectProblem(subject);
    if (problem) throw new SluiceError('invalid_subject', problem, { subject });
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new SluiceError('invalid_argument', 'data is a string or a Uint8Array');
    }
    const qos = options.qos ?? 'standard';
    if (qos !== 'standard' && qos !== 'guaranteed') {
      throw new SluiceError('invalid_argument', "qos is 'standard' or 'guaranteed'");
    }
    if (options.replyTo !== undefined) {
      const replyProblem = subjectProblem(options.replyTo);
      if (replyProblem)
        throw new SluiceError('invalid_subject', `reply_to: ${replyProblem}`, { subject: options.replyTo });
    }
    const id = this.nextId++;
    /** @type {Request} */
    const request = {
      op: 'publish',
      id,
      subject,
      data,
      retained: options.retained ?? true,
      qos,
      replyTo: options.replyTo,
      traceparent: options.traceparent,
    };
    const bytes = this.encode(request);
    // A UTF-16 code unit is at most 3 UTF-8 bytes: most strings need no encoding to check.
    const size =
      typeof bytes !== 'string'
        ? bytes.length
        : bytes.length * 3 <= this.options.frameBytesMax
          ? bytes.length
          : payloadBytes(bytes).length;
    if (size > this.options.frameBytesMax) {
      throw new SluiceError(
        'frame_too_large',
        `the publish frame is ${size} bytes, more than frameBytesMax (${this.options.frameBytesMax})`,
        { subject },
      );
    }
    const deadline = now + this.options.publishTimeoutMs;
    if (this.open) {
      this.sendBytes(bytes);
      this.inFlight.sentRequest(id, { op: 'publish', deadline });
    } else if (this.options.whileDisconnected === 'reject') {
      throw new SluiceError('not_connected', 'not connected, and whileDisconnected is reject', { subject });
    } else if (!this.inFlight.queue({ id, bytes, deadline })) {
      throw new SluiceError(
        'queue_full',
        `${this.options.pendingPublishesMax} publishes already wait for a connection (pendingPublishesMax)`,
        { subject },
      );
    }
    return id;
  }

  /**
   * A fresh token for the live connection (after `tokenExpiring`).
   * @param {number} now
   * @param {string} token
   */
  refreshToken(now, token) {
    if (this.open) this.sendAuth(token);
  }

  /**
   * Drops the current connection (as a network failure would) and connects again
   * after `afterMs`, or after the backoff's next delay.
   * @param {number} now
   * @param {number | undefined} afterMs
   */
  reconnect(now, afterMs) {
    if (this.state === 'closed') return;
    this.dropConnection(now, 4000, 'reconnect requested', afterMs ?? this.backoff.nextDelayMs(), false);
  }

  /**
   * Closes the client: no more reconnects; waiting and unanswered publishes fail.
   * @param {number} now
   */
  close(now) {
    if (this.state === 'closed') return;
    if (this.url !== null)
      this.outputs.push({
        type: 'disconnect',
        connection: this.connection,
        code: 1000,
        reason: 'client closed',
      });
    const error = () => new SluiceError('closed', 'the client was closed');
    for (const id of this.inFlight.connectionLost())
      this.outputs.push({ type: 'publishFailed', id, error: error() });
    for (const p of this.inFlight.takePending())
      this.outputs.push({ type: 'publishFailed', id: p.id, error: error() });
    this.open = false;
    this.url = null;
    this.reconnectAt = null;
    this.connectDeadline = null;
    this.setState('closed');
  }

  // ---- handle_* (inputs from the driver) ----

  /**
   * The network came back (the browser's `online` event): start over the backoff,
   * and try at once if waiting.
   * @param {number} now
   */
  handleOnline(now) {
    this.backoff.reset();
    if (this.state === 'disconnected' && this.reconnectAt !== null) this.reconnectAt = now;
  }

  /**
   * The transport of `connection` opened, the token (if any) in hand.
   * @param {number} now
   * @param {number} connection
   * @param {string | undefined} token
   */
  handleOpen(now, connection, token) {
    if (connection !== this.connection || this.state !== 'connecting') return;
    this.open = true;
    this.connectDeadline = null;
    this.backoff.reset();
    this.servers.succeeded();
    if (token !== undefined) this.sendAuth(token);
    this.positions.newConnection();
    for (const r of this.positions.restoreRequests()) this.sendSubscribe(r.subjects, r.resume, r);
    for (const p of this.inFlight.takePending()) {
      this.sendBytes(p.bytes);
      this.inFlight.sentRequest(p.id, { op: 'publish', deadline: p.deadline });
    }
    this.setState('connected');
  }

  /**
   * One message from the gateway.
   * @param {number} now
   * @param {number} connection
   * @param {string | Uint8Array} data
   */
  handleData(now, connection, data) {
    if (connection !== this.connection || !this.open) return;
    /** @type {ServerFrame} */
    let frame;
    try {
      frame = typeof data === 'string' ? decodeJson(data) : decodeBinary(data);
    } catch (err) {
      this.outputs.push({
        type: 'error',
        error: new SluiceError('invalid_frame', `undecodable frame from the gateway: ${err}`),
      });
      return;
    }
    this.handleFrame(now, frame);
  }

  /**
   * The transport of `connection` closed or failed.
   * @param {number} now
   * @param {number} connection
   * @param {number} code the WebSocket close code (1006 when none)
   * @param {string} reason
   */
  handleClosed(now, connection, code, reason) {
    if (connection !== this.connection || this.url === null) return;
    if (AUTH_CLOSE_CODES.includes(code) && !this.options.reconnectOnAuthClose) {
      this.outputs.push({
        type: 'error',
        error: new SluiceError('unauthorized', `closed by the gateway: ${code} ${reason}`, {
          closeCode: code,
        }),
      });
      this.close(now);
      return;
    }
    if (code !== 1000 && code !== 1005 && code !== 1006) {
      this.outputs.push({
        type: 'error',
        error: new SluiceError('connection_lost', `closed by the gateway: ${code} ${reason}`, {
          closeCode: code,
        }),
      });
    }
    this.dropConnection(now, code, reason, undefined, true);
  }

  /**
   * Timers: reconnect attempts, connect deadline, publish deadlines.
   * @param {number} now
   */
  handleTimeout(now) {
    for (const id of this.inFlight.expire(now)) {
      this.outputs.push({
        type: 'publishFailed',
        id,
        error: new SluiceError(
          'timeout',
          `no answer within publishTimeoutMs (${this.options.publishTimeoutMs} ms); the outcome is unknown if it was sent`,
        ),
      });
    }
    if (this.connectDeadline !== null && now >= this.connectDeadline && !this.open) {
      this.dropConnection(now, 4000, 'connect timeout', undefined, true);
    }
    if (this.reconnectAt !== null && now >= this.reconnectAt && this.url === null) {
      this.reconnectAt = null;
      this.connection += 1;
      this.url = this.servers.pick();
      this.connectDeadline = now + this.options.connectTimeoutMs;
      this.setState('connecting');
      this.outputs.push({ type: 'connect', connection: this.connection, url: this.url });
    }
  }

  // ---- poll_* ----

  /** @returns {Output | undefined} */
  pollOutput() {
    return this.outputs.shift();
  }

  /** @returns {number | null} when `handleTimeout` is due next */
  pollTimeout() {
    let next = this.inFlight.nextDeadline();
    for (const t of [this.reconnectAt, this.connectDeadline]) {
      if (t !== null && (next === null || t < next)) next = t;
    }
    return next;
  }

  // ---- internals ----

  checkNotClosed() {
    if (this.state === 'closed') throw new SluiceError('closed', 'the client was closed');
  }

  /** @param {ConnectionState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.outputs.push({ type: 'state', state });
  }

  /**
   * Ends the current connection and schedules the next attempt.
   * @param {number} now
   * @param {number} code
   * @param {string} reason
   * @param {number | undefined} delayMs undefined: 0 to an untried server, else backoff
   * @param {boolean} failed whether to count it against the server
   */
  dropConnection(now, code, reason, delayMs, failed) {
    if (this.url !== null) {
      this.outputs.push({ type: 'disconnect', connection: this.connection, code, reason });
      if (failed) this.servers.failedOn(this.url);
    }
    const wasOpen = this.open;
    this.open = false;
    this.url = null;
    this.connectDeadline = null;
    for (const id of this.inFlight.connectionLost()) {
      this.outputs.push({
        type: 'publishFailed',
        id,
        error: new SluiceError(
          'connection_lost',
          'the connection ended before the ack; the outcome is unknown',
        ),
      });
    }
    if (delayMs === undefined) {
      // Move on at once to a server not yet tried in this round after a failed
      // attempt; a lost connection or a failed round waits for the backoff.
      delayMs = !wasOpen && !this.servers.roundFailed() ? 0 : this.backoff.nextDelayMs();
    }
    this.reconnectAt = now + delayMs;
    this.setState('disconnected');
  }

  /**
   * @param {string[]} subjects
   * @param {Record<string, Position>} resume
   * @param {import('./positions.js').Asked} asked
   */
  sendSubscribe(subjects, resume, asked) {
    const id = this.nextId++;
    const { history, headers, conflateMs, delta } = asked;
    // With history, ask for its end marker (protocol 1.1; a 1.0 gateway ignores it).
    const historyEnd = history !== undefined;
    this.send({ op: 'subscribe', id, subjects, history, resume, headers, conflateMs, historyEnd, delta });
    this.inFlight.sentRequest(id, { op: 'subscribe', subjects });
  }

  /** @param {string} token */
  sendAuth(token) {
    const id = this.nextId++;
    this.send({ op: 'auth', id, token });
    this.inFlight.sentRequest(id, { op: 'auth' });
  }

  /** @param {Request} request */
  send(request) {
    this.sendBytes(this.encode(request));
  }

  /** @param {string | Uint8Array} bytes */
  sendBytes(bytes) {
    this.outputs.push({ type: 'send', connection: this.connection, bytes });
  }

  /**
   * @param {number} now
   * @param {ServerFrame} frame
   */
  handleFrame(now, frame) {
    switch (frame.op) {
      case 'message': {
        let data;
        try {
          data = this.positions.rebuild(frame.subject, frame.data, frame.delta === true);
        } catch (err) {
          // Reconnecting resumes from the last whole value: nothing is lost.
          this.outputs.push({
            type: 'error',
            error: new SluiceError('invalid_frame', `from the gateway: ${err}`),
          });
          this.dropConnection(now, 4000, 'undecodable delta', undefined, false);
          return;
        }
        if (!this.positions.accept(frame.subject, frame.epoch, frame.seq)) return;
        const { subject, seq, epoch, type, headers, headersTruncated } = frame;
        /** @type {Message} */
        const message = { subject, data, seq, epoch, type };
        // Only on subscriptions that asked for them (`headers: true`).
        if (headers !== undefined) message.headers = headers;
        if (headersTruncated) message.headersTruncated = true;
        this.outputs.push({ type: 'message', message });
        return;
      }
      case 'status': {
        if (frame.status === 'token_expiring') {
          this.outputs.push({ type: 'tokenExpiring', expiresInMs: frame.expiresInMs ?? 0 });
          return;
        }
        const subject = frame.subject;
        if (subject === undefined || !this.positions.has(subject)) return;
        if (frame.status === 'resync') this.positions.resynced(subject);
        if (frame.status === 'sync' || frame.status === 'resync') {
          this.outputs.push({ type: 'status', subject, status: frame.status });
        } else if (frame.status === 'history_end') {
          const status = frame.complete ? 'history_complete' : 'history_incomplete';
          this.outputs.push({ type: 'status', subject, status });
        }
        return;
      }
      case 'ok': {
        const awaited = this.inFlight.answered(frame.id);
        if (awaited?.op === 'subscribe') {
          for (const subject of awaited.subjects) {
            if (this.positions.confirm(subject))
              this.outputs.push({ type: 'status', subject, status: 'subscribed' });
          }
        }
        return;
      }
      case 'ack': {
        const awaited = this.inFlight.answered(frame.id);
        if (awaited?.op === 'publish') {
          this.outputs.push({ type: 'published', id: frame.id, ack: { seq: frame.seq, epoch: frame.epoch } });
        }
        return;
      }
      case 'error': {
        const error = new SluiceError(frame.code, frame.message, { subject: frame.subject });
        const awaited = frame.id === undefined ? undefined : this.inFlight.sent.get(frame.id);
        if (awaited?.op === 'publish') {
          this.inFlight.answered(/** @type {number} */ (frame.id));
          this.outputs.push({ type: 'publishFailed', id: /** @type {number} */ (frame.id), error });
        } else if (awaited?.op === 'subscribe' && frame.subject !== undefined) {
          // The subscribe's `ok` follows; this subject is refused (or, on a
          // narrower token refresh, ended): it is no longer subscribed.
          awaited.subjects = awaited.subjects.filter((s) => s !== frame.subject);
          if (this.positions.has(frame.subject)) {
            this.positions.unsubscribe(frame.subject);
            this.outputs.push({
              type: 'status',
              subject: frame.subject,
              status: { error: frame.code, message: frame.message },
            });
          }
        } else if (
          frame.subject !== undefined &&
          (frame.id === undefined || frame.code === 'forbidden') &&
          this.positions.has(frame.subject)
        ) {
          // The gateway ended this subscription: a narrower token refresh
          // (`forbidden`, with the `auth`'s id), or its topic is no longer
          // exposed (`not_exposed`, with no id).
          this.positions.unsubscribe(frame.subject);
          this.outputs.push({
            type: 'status',
            subject: frame.subject,
            status: { error: frame.code, message: frame.message },
          });
        } else {
          if (awaited?.op === 'auth') this.inFlight.answered(/** @type {number} */ (frame.id));
          this.outputs.push({ type: 'error', error });
        }
        return;
      }
    }
  }
}
