/**
 * The driver: owns the WebSocket, the timer and the token provider, and moves
 * bytes and time between them and the sans-IO `ClientProtocol`. Every decision
 * is the protocol's.
 */
import { Emitter } from './emitter.js';
import { SluiceError } from './error.js';
import { inboxSubject } from './inbox.js';
import { ClientProtocol } from './protocol.js';

/**
 * @typedef {import('./protocol.js').Message} Message
 * @typedef {import('./protocol.js').SubscriptionStatus} SubscriptionStatus
 * @typedef {import('./protocol.js').ConnectionState} ConnectionState
 * @typedef {import('./protocol.js').Position} Ack
 *
 * @typedef {object} ClientOptions
 * @property {Array<string | { url: string, weight?: number }>} servers gateway URLs (`ws://…/v1/ws`), optionally weighted
 * @property {string | (() => string | Promise<string>)} [token] a JWT, or a function giving one (called on connect and on `token_expiring`)
 * @property {string} [inboxTopic] the gateway's `gateway.inbox_topic`, where `request` waits for replies (default `_inbox`)
 * @property {'json' | 'binary'} [encoding] `'json'` (default) or `'binary'`
 * @property {{ minDelayMs?: number, maxDelayMs?: number }} [reconnect] backoff bounds (default 500 and 20000)
 * @property {number} [publishTimeoutMs] a publish not acknowledged this long after the call fails with `timeout` (default 15000)
 * @property {number} [pendingPublishesMax] publishes waiting for a connection at most (default 1000)
 * @property {'queue' | 'reject'} [whileDisconnected] publishes while disconnected wait (default) or fail with `not_connected`
 * @property {number} [frameBytesMax] largest frame sent (default 1048576, the gateway's default)
 * @property {number} [connectTimeoutMs] a connection not open this long is abandoned (default 10000)
 * @property {any} [WebSocket] a WebSocket implementation (default `globalThis.WebSocket`; on Node 20, the `ws` package)
 * @property {() => number} [random] uniform in [0, 1) (default `Math.random`), for server picks and jitter
 * @property {{ addEventListener: Function, removeEventListener: Function }} [onlineEvents] where `online`
 *   events come from (default `globalThis` when it has `addEventListener`, as in a browser)
 *
 * @typedef {object} SubscribeOptions
 * @property {number} [history] start with up to this many past messages instead of the snapshot
 * @property {number} [conflateMs] at most one live message per this many ms (100 to 3600000, rounded up to
 *   100 by the gateway), always the latest, the final one never lost; a resume brings only the latest missed
 * @property {boolean} [headers] each message carries its Kafka record's headers in `message.headers`
 *   (protocol 1.1): a UTF-8 value as a string, any other as bytes
 * @property {boolean} [delta] values travel as fossil deltas against the previous one when smaller
 *   (protocol 1.1); the client rebuilds them, so `message.data` is always the whole value
 * @property {(message: Message) => void} [onMessage]
 * @property {(status: SubscriptionStatus) => void} [onStatus]
 *
 * @typedef {object} PublishOptions
 * @property {boolean} [retained] whether it may become the snapshot (default true)
 * @property {'standard' | 'guaranteed'} [qos] carried to Kafka consumers in a header
 * @property {string} [replyTo] a subject, carried in a header
 * @property {string} [traceparent] W3C trace context, carried in a header
 */

const SUBPROTOCOL = { json: 'sluice.v1.json', binary: 'sluice.v1.bin' };

/** A subscription's handle. */
export class Subscription {
  /**
   * @param {Client} client
   * @param {string} subject
   * @param {SubscribeOptions} options
   */
  constructor(client, subject, options) {
    this.client = client;
    this.subject = subject;
    this.options = options;
    this.active = true;
  }

  /** Stops the subscription; no message or status reaches its callbacks after this. */
  unsubscribe() {
    if (!this.active) return;
    this.active = false;
    this.client.removeSubscription(this);
  }
}

/**
 * A Sluice client: connects to one of `servers`, keeps the subscriptions across
 * reconnects (resuming without gap or duplicate), publishes.
 */
export class Client {
  /** @param {ClientOptions} options */
  constructor(options) {
    const opts = checkOptions(options);
    /** @type {any} */
    this.WebSocketImpl = opts.WebSocket ?? /** @type {any} */ (globalThis).WebSocket;
    if (typeof this.WebSocketImpl !== 'function') {
      throw new SluiceError(
        'invalid_argument',
        'no WebSocket implementation: pass one as the WebSocket option (e.g. the ws package)',
      );
    }
    this.token = opts.token;
    /** @type {string | undefined} the token last sent: whose inbox `request` uses */
    this.lastToken = typeof opts.token === 'string' ? opts.token : undefined;
    this.inboxTopic = opts.inboxTopic ?? '_inbox';
    this.encoding = opts.encoding ?? 'json';
    this.emitter = new Emitter();
    /** @type {Map<string, Set<Subscription>>} */
    this.subscriptions = new Map();
    /** @type {Map<number, { resolve: (ack: Ack) => void, reject: (e: SluiceError) => void }>} */
    this.publishes = new Map();
    /** @type {any} the current WebSocket */
    this.socket = null;
    this.socketConnection = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {number | null} when `timer` fires */
    this.timerAt = null;
    /** @type {Array<() => void>} */
    this.closeWaiters = [];
    this.protocol = new ClientProtocol(
      {
        servers: opts.servers,
        encoding: this.encoding,
        minDelayMs: opts.reconnect?.minDelayMs ?? 500,
        maxDelayMs: opts.reconnect?.maxDelayMs ?? 20000,
        publishTimeoutMs: opts.publishTimeoutMs ?? 15000,
        pendingPublishesMax: opts.pendingPublishesMax ?? 1000,
        whileDisconnected: opts.whileDisconnected ?? 'queue',
        frameBytesMax: opts.frameBytesMax ?? 1048576,
        connectTimeoutMs: opts.connectTimeoutMs ?? 10000,
        reconnectOnAuthClose: typeof opts.token === 'function',
        random: opts.random ?? Math.random,
      },
      now(),
    );
    this.onOnline = () => this.input((t) => this.protocol.handleOnline(t));
    /** @type {any} */
    this.onlineEvents = opts.onlineEvents ?? globalThis;
    this.onlineEvents.addEventListener?.('online', this.onOnline);
    // Start on the next turn, so listeners registered right after `new` see `connecting`.
    queueMicrotask(() => this.input((t) => this.protocol.handleTimeout(t)));
  }

  /** @returns {ConnectionState} */
  get state() {
    return this.protocol.connectionState();
  }

  /** @returns {string | null} the URL of the server connected or being connected to */
  get server() {
    return this.protocol.url;
  }

  /**
   * `'state'`: the connection state changed; `'error'`: a `SluiceError` not tied to
   * a call (a close by the gateway, a refused token); `'tokenExpiring'`: the token
   * expires in `expiresInMs` (refreshed by itself with a token function).
   * @param {'state' | 'error' | 'tokenExpiring'} event
   * @param {(value: any) => void} listener
   * @returns {this}
   */
  on(event, listener) {
    this.emitter.on(event, listener);
    return this;
  }

  /**
   * @param {'state' | 'error' | 'tokenExpiring'} event
   * @param {(value: any) => void} listener
   * @returns {this}
   */
  off(event, listener) {
    this.emitter.off(event, listener);
    return this;
  }

  /**
   * Subscribes to `subject`: its snapshot (or `history`), then live messages;
   * restored with `resume` after every reconnect. Throws `SluiceError`
   * (`invalid_subject`, `invalid_argument`, `closed`) for bad input.
   * @param {string} subject
   * @param {SubscribeOptions} [options]
   * @returns {Subscription}
   */
  subscribe(subject, options = {}) {
    if (options === null || typeof options !== 'object') {
      throw new SluiceError('invalid_argument', 'subscribe options are an object');
    }
    for (const key of /** @type {const} */ (['onMessage', 'onStatus'])) {
      if (options[key] !== undefined && typeof options[key] !== 'function') {
        throw new SluiceError('invalid_argument', `${key} is a function`);
      }
    }
    let subscription;
    this.input((t) => {
      const { history, headers, conflateMs, delta } = options;
      this.protocol.subscribe(t, subject, { history, headers, conflateMs, delta });
      subscription = new Subscription(this, subject, options);
      let set = this.subscriptions.get(subject);
      if (!set) this.subscriptions.set(subject, (set = new Set()));
      set.add(subscription);
    });
    return /** @type {Subscription} */ (/** @type {unknown} */ (subscription));
  }

  /**
   * Publishes `data` (a string is sent as its UTF-8 bytes) to `subject`. Resolves
   * with the broker's `{ seq, epoch }` once written; rejects with `SluiceError`.
   * @param {string} subject
   * @param {string | Uint8Array} data
   * @param {PublishOptions} [options]
   * @returns {Promise<Ack>}
   */
  publish(subject, data, options = {}) {
    return new Promise((resolve, reject) => {
      try {
        this.input((t) => {
          const id = this.protocol.publish(t, subject, data, options ?? {});
          this.publishes.set(id, { resolve, reject });
        });
      } catch (err) {
        reject(err);
      }
    });
  }

  /**
   * Request/reply: publishes `data` to `subject` (not retained) with a fresh
   * subject of this client's inbox as `replyTo`, and resolves with the first
   * message published there (a responder's `reply`); rejects with `timeout` after
   * `timeoutMs` (default 10000), or with the gateway's error if the inbox or the
   * publish is refused. The gateway must expose its inbox topic (`inboxTopic`);
   * with a token, only the token's own inbox can be read.
   * @param {string} subject
   * @param {string | Uint8Array} data
   * @param {{ timeoutMs?: number }} [options]
   * @returns {Promise<Message>}
   */
  request(subject, data, options = {}) {
    const timeoutMs = options?.timeoutMs ?? 10000;
    if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
      return Promise.reject(new SluiceError('invalid_argument', 'timeoutMs is a positive integer'));
    }
    const inbox = inboxSubject(this.inboxTopic, this.lastToken);
    return new Promise((resolve, reject) => {
      let done = false;
      /** @type {Subscription | undefined} */
      let inboxSubscription;
      /**
       * @param {() => void} settle
       */
      const finish = (settle) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        inboxSubscription?.unsubscribe();
        settle();
      };
      const timer = setTimeout(
        () =>
          finish(() => reject(new SluiceError('timeout', `no reply to ${subject} within ${timeoutMs} ms`))),
        timeoutMs,
      );
      try {
        inboxSubscription = this.subscribe(inbox, {
          onMessage: (message) => finish(() => resolve(message)),
          onStatus: (status) => {
            if (status === 'subscribed') {
              this.publish(subject, data, { retained: false, replyTo: inbox }).catch((err) =>
                finish(() => reject(err)),
              );
            } else if (typeof status === 'object') {
              const error = new SluiceError(status.error, status.message ?? `inbox ${inbox} refused`, {
                subject: inbox,
              });
              finish(() => reject(error));
            }
          },
        });
      } catch (err) {
        finish(() => reject(err));
      }
    });
  }

  /**
   * Answers a request: publishes `data` (not retained) to the `reply_to` header of
   * `request`, a message of a subscription made with `headers: true`.
   * @param {Message} request
   * @param {string | Uint8Array} data
   * @returns {Promise<Ack>}
   */
  reply(request, data) {
    const replyTo = request?.headers?.reply_to;
    if (typeof replyTo !== 'string') {
      return Promise.reject(
        new SluiceError(
          'invalid_argument',
          'the message has no reply_to header (subscribe with headers: true)',
        ),
      );
    }
    return this.publish(replyTo, data, { retained: false });
  }

  /**
   * Drops the connection as a network failure would, and connects again after
   * `afterMs` (default: the backoff's delay), resuming every subscription.
   * @param {{ afterMs?: number }} [options]
   */
  reconnect(options = {}) {
    this.input((t) => this.protocol.reconnect(t, options.afterMs));
  }

  /**
   * Closes the connection for good. Publishes not acknowledged fail with `closed`.
   * @returns {Promise<void>} settled once the socket is closed
   */
  close() {
    this.onlineEvents.removeEventListener?.('online', this.onOnline);
    const socket = this.socket;
    this.input((t) => this.protocol.close(t));
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = null;
    if (!socket || socket.readyState === 3) return Promise.resolve();
    return new Promise((resolve) => {
      // Bounded: a peer that never answers the close does not hold the caller.
      const guard = setTimeout(resolve, 2000);
      this.closeWaiters.push(() => {
        clearTimeout(guard);
        resolve();
      });
    });
  }

  // ---- internals ----

  /**
   * Internal: `Subscription.unsubscribe` calls it.
   * @param {Subscription} subscription
   */
  removeSubscription(subscription) {
    const set = this.subscriptions.get(subscription.subject);
    if (!set) return;
    set.delete(subscription);
    if (set.size === 0) {
      this.subscriptions.delete(subscription.subject);
      this.input((t) => this.protocol.unsubscribe(t, subscription.subject));
    }
  }

  /**
   * Feeds the protocol one input, then drains its outputs and re-arms the timer.
   * Errors of the input (bad arguments) propagate to the caller, after draining.
   * @param {(now: number) => void} feed
   * @private
   */
  input(feed) {
    try {
      feed(now());
    } finally {
      this.drain();
    }
  }

  /** @private */
  drain() {
    for (let out = this.protocol.pollOutput(); out !== undefined; out = this.protocol.pollOutput()) {
      switch (out.type) {
        case 'connect':
          this.connect(out.connection, out.url);
          break;
        case 'send':
          if (out.connection === this.socketConnection && this.socket?.readyState === 1)
            this.socket.send(out.bytes);
          break;
        case 'disconnect':
          if (out.connection === this.socketConnection && this.socket) {
            const socket = this.socket;
            this.socket = null;
            detach(socket);
            socket.onclose = () => this.socketClosed();
            try {
              socket.close(out.code === 1000 ? 1000 : 4000, out.reason.slice(0, 100));
            } catch {
              this.socketClosed();
            }
          }
          break;
        case 'state':
          this.emitter.emit('state', out.state);
          break;
        case 'message':
          for (const s of this.subscriptions.get(out.message.subject) ?? []) {
            if (s.active) callSafely(s.options.onMessage, out.message);
          }
          break;
        case 'status': {
          const set = this.subscriptions.get(out.subject);
          for (const s of set ?? []) if (s.active) callSafely(s.options.onStatus, out.status);
          if (typeof out.status === 'object') {
            for (const s of set ?? []) s.active = false;
            this.subscriptions.delete(out.subject);
          }
          break;
        }
        case 'published':
          this.publishes.get(out.id)?.resolve(out.ack);
          this.publishes.delete(out.id);
          break;
        case 'publishFailed':
          this.publishes.get(out.id)?.reject(out.error);
          this.publishes.delete(out.id);
          break;
        case 'tokenExpiring':
          this.emitter.emit('tokenExpiring', out.expiresInMs);
          if (typeof this.token === 'function') this.refreshToken();
          break;
        case 'error':
          this.reportError(out.error);
          break;
      }
    }
    this.arm();
  }

  /** @private */
  arm() {
    const at = this.protocol.pollTimeout();
    // Unchanged (the common case, a message received): keep the timer as it is.
    if (at === this.timerAt && (at === null || this.timer !== null)) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at === null) return;
    // setTimeout's limit is 2^31-1 ms; wake early rather than overflow.
    const delay = Math.min(Math.max(0, at - now()), 0x7fffffff);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = null;
      this.input((t) => this.protocol.handleTimeout(t));
    }, delay);
  }

  /**
   * @param {number} connection
   * @param {string} url
   * @private
   */
  async connect(connection, url) {
    this.socketConnection = connection;
    let token;
    try {
      token = await this.currentToken();
    } catch (err) {
      this.reportError(tokenFailed(err));
      this.input((t) => this.protocol.handleClosed(t, connection, 4000, 'no token'));
      return;
    }
    if (token !== undefined) this.lastToken = token;
    if (connection !== this.socketConnection || this.protocol.connectionState() !== 'connecting') return;
    let socket;
    try {
      socket = new this.WebSocketImpl(url, [SUBPROTOCOL[this.encoding]]);
    } catch (err) {
      const error = new SluiceError('invalid_argument', `cannot open ${url}: ${err}`);
      this.reportError(error);
      this.input((t) => this.protocol.handleClosed(t, connection, 1006, String(err)));
      return;
    }
    this.socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => this.input((t) => this.protocol.handleOpen(t, connection, token));
    socket.onmessage = (/** @type {{ data: any }} */ event) => {
      const data = typeof event.data === 'string' ? event.data : new Uint8Array(event.data);
      this.input((t) => this.protocol.handleData(t, connection, data));
    };
    socket.onclose = (/** @type {{ code: number, reason: string }} */ event) => {
      if (this.socket === socket) this.socket = null;
      this.input((t) => this.protocol.handleClosed(t, connection, event.code ?? 1006, event.reason ?? ''));
      this.socketClosed();
    };
    socket.onerror = () => {};
  }

  /** @returns {Promise<string | undefined>} @private */
  async currentToken() {
    if (typeof this.token === 'function') {
      const token = await this.token();
      if (typeof token !== 'string') throw new Error('the token function must give a string');
      return token;
    }
    return this.token;
  }

  /** @private */
  async refreshToken() {
    try {
      const token = await this.currentToken();
      if (token !== undefined) this.input((t) => this.protocol.refreshToken(t, token));
    } catch (err) {
      this.reportError(tokenFailed(err));
    }
  }

  /**
   * Never dropped silently: without an `error` listener it goes to the console.
   * @param {SluiceError} error
   * @private
   */
  reportError(error) {
    if (!this.emitter.emit('error', error)) console.warn('sluice:', error);
  }

  /** @private */
  socketClosed() {
    if (this.protocol.connectionState() !== 'closed') return;
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }
}

/** @param {unknown} err */
function tokenFailed(err) {
  return new SluiceError('unauthorized', `the token function failed: ${err}`);
}

/** @returns {number} */
function now() {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** @param {any} socket */
function detach(socket) {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onerror = () => {};
}

/**
 * @param {((value: any) => void) | undefined} callback
 * @param {unknown} value
 */
function callSafely(callback, value) {
  if (!callback) return;
  try {
    callback(value);
  } catch (err) {
    setTimeout(() => {
      throw err;
    });
  }
}

/**
 * @param {ClientOptions} options
 * @returns {ClientOptions}
 */
function checkOptions(options) {
  const bad = (/** @type {string} */ why) => new SluiceError('invalid_argument', why);
  if (options === null || typeof options !== 'object') throw bad('options are an object');
  const { servers } = options;
  if (!Array.isArray(servers) || servers.length === 0) throw bad('servers is a non-empty array');
  for (const s of servers) {
    const url = typeof s === 'string' ? s : s?.url;
    if (typeof url !== 'string' || !/^wss?:\/\//.test(url))
      throw bad(`a server is a ws:// or wss:// URL: ${JSON.stringify(s)}`);
    if (typeof s === 'object' && s.weight !== undefined && !(Number.isFinite(s.weight) && s.weight > 0)) {
      throw bad(`a server's weight is a positive number: ${JSON.stringify(s)}`);
    }
  }
  if (options.encoding !== undefined && options.encoding !== 'json' && options.encoding !== 'binary') {
    throw bad("encoding is 'json' or 'binary'");
  }
  if (
    options.token !== undefined &&
    typeof options.token !== 'string' &&
    typeof options.token !== 'function'
  ) {
    throw bad('token is a string or a function');
  }
  if (
    options.inboxTopic !== undefined &&
    (typeof options.inboxTopic !== 'string' || options.inboxTopic === '')
  ) {
    throw bad('inboxTopic is a non-empty string');
  }
  if (
    options.whileDisconnected !== undefined &&
    options.whileDisconnected !== 'queue' &&
    options.whileDisconnected !== 'reject'
  ) {
    throw bad("whileDisconnected is 'queue' or 'reject'");
  }
  /** @type {[string, number | undefined][]} */
  const numbers = [
    ['reconnect.minDelayMs', options.reconnect?.minDelayMs],
    ['reconnect.maxDelayMs', options.reconnect?.maxDelayMs],
    ['publishTimeoutMs', options.publishTimeoutMs],
    ['pendingPublishesMax', options.pendingPublishesMax],
    ['frameBytesMax', options.frameBytesMax],
    ['connectTimeoutMs', options.connectTimeoutMs],
  ];
  for (const [name, value] of numbers) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw bad(`${name} is a number >= 0`);
  }
  return options;
}
