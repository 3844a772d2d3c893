/**
 * The driver: owns the WebSocket, the timer and the token provider, and moves
 * bytes and time between them and the sans-IO `ClientProtocol`. Every decision
 * is the protocol's.
 */
import { Emitter } from './emitter.js';
import { SluiceError } from './error.js';
import { ClientProtocol } from './protocol.js';
export type Message = import('./protocol.js').Message;
export type SubscriptionStatus = import('./protocol.js').SubscriptionStatus;
export type ConnectionState = import('./protocol.js').ConnectionState;
export type Ack = import('./protocol.js').Position;
export type ClientOptions = {
    /**
     * gateway URLs (`ws://…/v1/ws`), optionally weighted
     */
    servers: Array<string | {
        url: string;
        weight?: number;
    }>;
    /**
     * a JWT, or a function giving one (called on connect and on `token_expiring`)
     */
    token?: string | (() => string | Promise<string>);
    /**
     * the gateway's `gateway.inbox_topic`, where `request` waits for replies (default `_inbox`)
     */
    inboxTopic?: string;
    /**
     * `'json'` (default) or `'binary'`
     */
    encoding?: 'json' | 'binary';
    /**
     * backoff bounds (default 500 and 20000)
     */
    reconnect?: {
        minDelayMs?: number;
        maxDelayMs?: number;
    };
    /**
     * a publish not acknowledged this long after the call fails with `timeout` (default 15000)
     */
    publishTimeoutMs?: number;
    /**
     * publishes waiting for a connection at most (default 1000)
     */
    pendingPublishesMax?: number;
    /**
     * publishes while disconnected wait (default) or fail with `not_connected`
     */
    whileDisconnected?: 'queue' | 'reject';
    /**
     * largest frame sent (default 1048576, the gateway's default)
     */
    frameBytesMax?: number;
    /**
     * a connection not open this long is abandoned (default 10000)
     */
    connectTimeoutMs?: number;
    /**
     * a WebSocket implementation (default `globalThis.WebSocket`; on Node 20, the `ws` package)
     */
    WebSocket?: any;
    /**
     * uniform in [0, 1) (default `Math.random`), for server picks and jitter
     */
    random?: () => number;
    /**
     * where `online`
     * events come from (default `globalThis` when it has `addEventListener`, as in a browser)
     */
    onlineEvents?: {
        addEventListener: Function;
        removeEventListener: Function;
    };
};
export type SubscribeOptions = {
    /**
     * start with up to this many past messages instead of the snapshot
     */
    history?: number;
    /**
     * at most one live message per this many ms (100 to 3600000, rounded up to
     * 100 by the gateway), always the latest, the final one never lost; a resume brings only the latest missed
     */
    conflateMs?: number;
    /**
     * each message carries its Kafka record's headers in `message.headers`
     * (protocol 1.1): a UTF-8 value as a string, any other as bytes
     */
    headers?: boolean;
    /**
     * values travel as fossil deltas against the previous one when smaller
     * (protocol 1.1); the client rebuilds them, so `message.data` is always the whole value
     */
    delta?: boolean;
    onMessage?: (message: Message) => void;
    onStatus?: (status: SubscriptionStatus) => void;
};
export type PublishOptions = {
    /**
     * whether it may become the snapshot (default true)
     */
    retained?: boolean;
    /**
     * carried to Kafka consumers in a header
     */
    qos?: 'standard' | 'guaranteed';
    /**
     * a subject, carried in a header
     */
    replyTo?: string;
    /**
     * W3C trace context, carried in a header
     */
    traceparent?: string;
};
/** A subscription's handle. */
export declare class Subscription {
    client: Client;
    subject: string;
    options: SubscribeOptions;
    active: boolean;
    /**
     * @param {Client} client
     * @param {string} subject
     * @param {SubscribeOptions} options
     */
    constructor(client: Client, subject: string, options: SubscribeOptions);
    /** Stops the subscription; no message or status reaches its callbacks after this. */
    unsubscribe(): void;
}
/**
 * A Sluice client: connects to one of `servers`, keeps the subscriptions across
 * reconnects (resuming without gap or duplicate), publishes.
 */
export declare class Client {
    /** @type {any} */
    WebSocketImpl: any;
    token: string | (() => string | Promise<string>) | undefined;
    /** @type {string | undefined} the token last sent: whose inbox `request` uses */
    lastToken: string | undefined;
    inboxTopic: string;
    encoding: "binary" | "json";
    emitter: Emitter;
    /** @type {Map<string, Set<Subscription>>} */
    subscriptions: Map<string, Set<Subscription>>;
    /** @type {Map<number, { resolve: (ack: Ack) => void, reject: (e: SluiceError) => void }>} */
    publishes: Map<number, {
        resolve: (ack: Ack) => void;
        reject: (e: SluiceError) => void;
    }>;
    /** @type {any} the current WebSocket */
    socket: any;
    socketConnection: number;
    /** @type {ReturnType<typeof setTimeout> | null} */
    timer: ReturnType<typeof setTimeout> | null;
    /** @type {number | null} when `timer` fires */
    timerAt: number | null;
    /** @type {Array<() => void>} */
    closeWaiters: Array<() => void>;
    protocol: ClientProtocol;
    onOnline: () => void;
    /** @type {any} */
    onlineEvents: any;
    /** @param {ClientOptions} options */
    constructor(options: ClientOptions);
    /** @returns {ConnectionState} */
    get state(): ConnectionState;
    /** @returns {string | null} the URL of the server connected or being connected to */
    get server(): string | null;
    /**
     * `'state'`: the connection state changed; `'error'`: a `SluiceError` not tied to
     * a call (a close by the gateway, a refused token); `'tokenExpiring'`: the token
     * expires in `expiresInMs` (refreshed by itself with a token function).
     * @param {'state' | 'error' | 'tokenExpiring'} event
     * @param {(value: any) => void} listener
     * @returns {this}
     */
    on(event: 'state' | 'error' | 'tokenExpiring', listener: (value: any) => void): this;
    /**
     * @param {'state' | 'error' | 'tokenExpiring'} event
     * @param {(value: any) => void} listener
     * @returns {this}
     */
    off(event: 'state' | 'error' | 'tokenExpiring', listener: (value: any) => void): this;
    /**
     * Subscribes to `subject`: its snapshot (or `history`), then live messages;
     * restored with `resume` after every reconnect. Throws `SluiceError`
     * (`invalid_subject`, `invalid_argument`, `closed`) for bad input.
     * @param {string} subject
     * @param {SubscribeOptions} [options]
     * @returns {Subscription}
     */
    subscribe(subject: string, options?: SubscribeOptions): Subscription;
    /**
     * Publishes `data` (a string is sent as its UTF-8 bytes) to `subject`. Resolves
     * with the broker's `{ seq, epoch }` once written; rejects with `SluiceError`.
     * @param {string} subject
     * @param {string | Uint8Array} data
     * @param {PublishOptions} [options]
     * @returns {Promise<Ack>}
     */
    publish(subject: string, data: string | Uint8Array, options?: PublishOptions): Promise<Ack>;
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
    request(subject: string, data: string | Uint8Array, options?: {
        timeoutMs?: number;
    }): Promise<Message>;
    /**
     * Answers a request: publishes `data` (not retained) to the `reply_to` header of
     * `request`, a message of a subscription made with `headers: true`.
     * @param {Message} request
     * @param {string | Uint8Array} data
     * @returns {Promise<Ack>}
     */
    reply(request: Message, data: string | Uint8Array): Promise<Ack>;
    /**
     * Drops the connection as a network failure would, and connects again after
     * `afterMs` (default: the backoff's delay), resuming every subscription.
     * @param {{ afterMs?: number }} [options]
     */
    reconnect(options?: {
        afterMs?: number;
    }): void;
    /**
     * Closes the connection for good. Publishes not acknowledged fail with `closed`.
     * @returns {Promise<void>} settled once the socket is closed
     */
    close(): Promise<void>;
    /**
     * Internal: `Subscription.unsubscribe` calls it.
     * @param {Subscription} subscription
     */
    removeSubscription(subscription: Subscription): void;
    /**
     * Feeds the protocol one input, then drains its outputs and re-arms the timer.
     * Errors of the input (bad arguments) propagate to the caller, after draining.
     * @param {(now: number) => void} feed
     * @private
     */
    private input;
    /** @private */
    private drain;
    /** @private */
    private arm;
    /**
     * @param {number} connection
     * @param {string} url
     * @private
     */
    private connect;
    /** @returns {Promise<string | undefined>} @private */
    private currentToken;
    /** @private */
    private refreshToken;
    /**
     * Never dropped silently: without an `error` listener it goes to the console.
     * @param {SluiceError} error
     * @private
     */
    private reportError;
    /** @private */
    private socketClosed;
}
