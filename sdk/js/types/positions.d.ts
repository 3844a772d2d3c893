/**
 * Subscribed subjects and their resume points `(epoch, seq)`: what a reconnect
 * restores, the de-duplication of messages by seq, and each delta subscription's
 * last value (what the next delta applies to). Pure bookkeeping.
 */
export type Position = {
    epoch: string;
    seq: number;
};
export type Asked = {
    history?: number;
    headers?: boolean;
    conflateMs?: number;
    delta?: boolean;
};
export type SubjectState = {
    history: number | undefined;
    headers: boolean;
    conflateMs: number | undefined;
    delta: boolean;
    point: Position | null;
    confirmed: boolean;
    deltaBase: Uint8Array | null;
};
export type RestoreRequest = {
    subjects: string[];
    history: number | undefined;
    resume: Record<string, Position>;
    headers: boolean;
    conflateMs: number | undefined;
    delta: boolean;
};
/**
 * @typedef {{ epoch: string, seq: number }} Position
 * @typedef {{ history?: number, headers?: boolean, conflateMs?: number, delta?: boolean }} Asked
 *   what a subscribe asks besides its subjects
 * @typedef {{ history: number | undefined, headers: boolean, conflateMs: number | undefined, delta: boolean,
 *   point: Position | null, confirmed: boolean, deltaBase: Uint8Array | null }} SubjectState
 * @typedef {{ subjects: string[], history: number | undefined, resume: Record<string, Position>, headers: boolean,
 *   conflateMs: number | undefined, delta: boolean }} RestoreRequest
 */
export declare class Positions {
    /** @type {Map<string, SubjectState>} */
    subjects: Map<string, SubjectState>;
    constructor();
    /**
     * The application subscribes (or renews): the gateway sends the start again,
     * so the point is cleared to let it through even if older than what was seen.
     * A renewal's delta value stays until the gateway's `ok` (messages of the old
     * subscription may come first).
     * @param {string} subject
     * @param {Asked} asked
     */
    subscribe(subject: string, asked: Asked): void;
    /** @param {string} subject */
    unsubscribe(subject: string): void;
    /** @param {string} subject */
    has(subject: string): boolean;
    /**
     * The gateway accepted the subscription.
     * @param {string} subject
     * @returns {boolean} whether it is the first time (not a restore)
     */
    confirm(subject: string): boolean;
    /**
     * Whether a message reaches the application; if so it becomes the subject's
     * resume point. Dropped: subjects not subscribed (stragglers after an
     * unsubscribe) and duplicates, i.e. the same epoch and a seq not above the last.
     * A different epoch is another log, whose offsets are not comparable: taken.
     * @param {string} subject
     * @param {string} epoch
     * @param {number} seq
     */
    accept(subject: string, epoch: string, seq: number): boolean;
    /**
     * The gateway voided the position: the snapshot that follows is the truth,
     * even if older than what was seen.
     * @param {string} subject
     */
    resynced(subject: string): void;
    /** A new connection: the gateway starts every delta chain afresh. */
    newConnection(): void;
    /**
     * A message's whole value: a delta is applied to the value before it, and on a
     * delta subscription every value is kept for the next. Every message of the
     * connection comes here, in order, duplicates included. Throws `Error` when
     * the gateway sent a delta that cannot be applied.
     * @param {string} subject
     * @param {string | Uint8Array | null} data
     * @param {boolean} isDelta
     * @returns {string | Uint8Array | null}
     */
    rebuild(subject: string, data: string | Uint8Array | null, isDelta: boolean): string | Uint8Array | null;
    /**
     * What restores every subscription on a new connection: `resume` where a
     * message was seen, `history` again where one was asked and nothing seen yet;
     * one request per kind of subscription (headers or not, conflation interval,
     * deltas or not).
     * @returns {RestoreRequest[]}
     */
    restoreRequests(): RestoreRequest[];
}
