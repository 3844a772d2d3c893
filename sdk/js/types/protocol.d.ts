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
import { encodeBinary } from './binary_codec.js';
import { SluiceError } from './error.js';
import { InFlight } from './in_flight.js';
import { encodeJson } from './json_codec.js';
import { Positions } from './positions.js';
import { ServerList } from './server_list.js';
export type MessageType = 'snapshot' | 'update' | 'recovered' | 'history';
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';
export type Position = {
    epoch: string;
    seq: number;
};
export type Headers = Record<string, string | Uint8Array>;
export type Request = {
    op: 'subscribe';
    id: number;
    subjects: string[];
    history?: number;
    resume?: Record<string, Position>;
    headers?: boolean;
    conflateMs?: number;
    historyEnd?: boolean;
    delta?: boolean;
} | {
    op: 'unsubscribe';
    id: number;
    subjects: string[];
} | {
    op: 'publish';
    id: number;
    subject: string;
    data: string | Uint8Array;
    retained: boolean;
    qos: 'standard' | 'guaranteed';
    replyTo?: string;
    traceparent?: string;
} | {
    op: 'ping';
    id: number;
} | {
    op: 'auth';
    id: number;
    token: string;
};
export type ServerFrame = {
    op: 'ok';
    id: number;
} | {
    op: 'error';
    id: number | undefined;
    subject: string | undefined;
    code: string;
    message: string;
} | {
    op: 'ack';
    id: number;
    epoch: string;
    seq: number;
} | {
    op: 'message';
    subject: string;
    epoch: string;
    seq: number;
    type: MessageType;
    data: string | Uint8Array | null;
    headers: Headers | undefined;
    headersTruncated: boolean;
    delta?: boolean;
} | {
    op: 'status';
    status: string;
    subject: string | undefined;
    expiresInMs: number | undefined;
    complete?: boolean;
};
export type Message = {
    subject: string;
    data: string | Uint8Array | null;
    seq: number;
    epoch: string;
    type: MessageType;
    headers?: Headers;
    headersTruncated?: boolean;
};
export type SubscriptionStatus = 'subscribed' | 'sync' | 'resync' | 'history_complete' | 'history_incomplete' | {
    error: string;
    message?: string;
};
export type Output = {
    type: 'connect';
    connection: number;
    url: string;
} | {
    type: 'send';
    connection: number;
    bytes: string | Uint8Array;
} | {
    type: 'disconnect';
    connection: number;
    code: number;
    reason: string;
} | {
    type: 'state';
    state: ConnectionState;
} | {
    type: 'message';
    message: Message;
} | {
    type: 'status';
    subject: string;
    status: SubscriptionStatus;
} | {
    type: 'published';
    id: number;
    ack: Position;
} | {
    type: 'publishFailed';
    id: number;
    error: SluiceError;
} | {
    type: 'tokenExpiring';
    expiresInMs: number;
} | {
    type: 'error';
    error: SluiceError;
};
export type ProtocolOptions = {
    servers: Array<string | {
        url: string;
        weight?: number;
    }>;
    encoding: 'json' | 'binary';
    minDelayMs: number;
    maxDelayMs: number;
    publishTimeoutMs: number;
    pendingPublishesMax: number;
    whileDisconnected: 'queue' | 'reject';
    frameBytesMax: number;
    connectTimeoutMs: number;
    reconnectOnAuthClose: boolean;
    random: () => number;
};
export declare class ClientProtocol {
    options: ProtocolOptions;
    servers: ServerList;
    backoff: Backoff;
    positions: Positions;
    inFlight: InFlight;
    /** @type {Output[]} */
    outputs: Output[];
    /** @type {ConnectionState} */
    state: ConnectionState;
    /** Id of the current transport connection; events of older ones are ignored. */
    connection: number;
    /** @type {string | null} url of the current connection */
    url: string | null;
    open: boolean;
    /** @type {number | null} when to start the next connection attempt */
    reconnectAt: number | null;
    /** @type {number | null} an attempt not open by then is given up */
    connectDeadline: number | null;
    nextId: number;
    encode: typeof encodeJson | typeof encodeBinary;
    /**
     * @param {ProtocolOptions} options
     * @param {number} now milliseconds, any monotonic origin
     */
    constructor(options: ProtocolOptions, now: number);
    /** @returns {ConnectionState} */
    connectionState(): ConnectionState;
    /**
     * Subscribes (or renews) `subject`. Throws `SluiceError` for a bad subject or option.
     * @param {number} now
     * @param {string} subject
     * @param {import('./positions.js').Asked} [asked] `history`; protocol 1.1: `headers` (messages carry
     *   their record headers), `conflateMs` (at most one live message per this many ms, the latest),
     *   `delta` (values come as deltas when smaller; the client rebuilds them)
     */
    subscribe(now: number, subject: string, asked?: import('./positions.js').Asked): void;
    /**
     * @param {number} now
     * @param {string} subject
     */
    unsubscribe(now: number, subject: string): void;
    /**
     * Publishes; the answer comes as a `published` or `publishFailed` output with
     * the returned id. Throws `SluiceError` for bad input or a full queue.
     * @param {number} now
     * @param {string} subject
     * @param {string | Uint8Array} data
     * @param {{ retained?: boolean, qos?: 'standard' | 'guaranteed', replyTo?: string, traceparent?: string }} [options]
     * @returns {number} the request id
     */
    publish(now: number, subject: string, data: string | Uint8Array, options?: {
        retained?: boolean;
        qos?: 'standard' | 'guaranteed';
        replyTo?: string;
        traceparent?: string;
    }): number;
    /**
     * A fresh token for the live connection (after `tokenExpiring`).
     * @param {number} now
     * @param {string} token
     */
    refreshToken(now: number, token: string): void;
    /**
     * Drops the current connection (as a network failure would) and connects again
     * after `afterMs`, or after the backoff's next delay.
     * @param {number} now
     * @param {number | undefined} afterMs
     */
    reconnect(now: number, afterMs: number | undefined): void;
    /**
     * Closes the client: no more reconnects; waiting and unanswered publishes fail.
     * @param {number} now
     */
    close(now: number): void;
    /**
     * The network came back (the browser's `online` event): start over the backoff,
     * and try at once if waiting.
     * @param {number} now
     */
    handleOnline(now: number): void;
    /**
     * The transport of `connection` opened, the token (if any) in hand.
     * @param {number} now
     * @param {number} connection
     * @param {string | undefined} token
     */
    handleOpen(now: number, connection: number, token: string | undefined): void;
    /**
     * One message from the gateway.
     * @param {number} now
     * @param {number} connection
     * @param {string | Uint8Array} data
     */
    handleData(now: number, connection: number, data: string | Uint8Array): void;
    /**
     * The transport of `connection` closed or failed.
     * @param {number} now
     * @param {number} connection
     * @param {number} code the WebSocket close code (1006 when none)
     * @param {string} reason
     */
    handleClosed(now: number, connection: number, code: number, reason: string): void;
    /**
     * Timers: reconnect attempts, connect deadline, publish deadlines.
     * @param {number} now
     */
    handleTimeout(now: number): void;
    /** @returns {Output | undefined} */
    pollOutput(): Output | undefined;
    /** @returns {number | null} when `handleTimeout` is due next */
    pollTimeout(): number | null;
    checkNotClosed(): void;
    /** @param {ConnectionState} state */
    setState(state: ConnectionState): void;
    /**
     * Ends the current connection and schedules the next attempt.
     * @param {number} now
     * @param {number} code
     * @param {string} reason
     * @param {number | undefined} delayMs undefined: 0 to an untried server, else backoff
     * @param {boolean} failed whether to count it against the server
     */
    dropConnection(now: number, code: number, reason: string, delayMs: number | undefined, failed: boolean): void;
    /**
     * @param {string[]} subjects
     * @param {Record<string, Position>} resume
     * @param {import('./positions.js').Asked} asked
     */
    sendSubscribe(subjects: string[], resume: Record<string, Position>, asked: import('./positions.js').Asked): void;
    /** @param {string} token */
    sendAuth(token: string): void;
    /** @param {Request} request */
    send(request: Request): void;
    /** @param {string | Uint8Array} bytes */
    sendBytes(bytes: string | Uint8Array): void;
    /**
     * @param {number} now
     * @param {ServerFrame} frame
     */
    handleFrame(now: number, frame: ServerFrame): void;
}
