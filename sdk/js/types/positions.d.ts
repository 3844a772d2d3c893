/**
 * Subscribed subjects and their resume points `(epoch, seq)`: what a reconnect
 * restores, and the de-duplication of messages by seq. Pure bookkeeping.
 */
export type Position = {
    epoch: string;
    seq: number;
};
export type SubjectState = {
    history: number | undefined;
    headers: boolean;
    conflateMs: number | undefined;
    point: Position | null;
    confirmed: boolean;
};
export type RestoreRequest = {
    subjects: string[];
    history: number | undefined;
    resume: Record<string, Position>;
    headers: boolean;
    conflateMs: number | undefined;
};
/**
 * @typedef {{ epoch: string, seq: number }} Position
 * @typedef {{ history: number | undefined, headers: boolean, conflateMs: number | undefined, point: Position | null,
 *   confirmed: boolean }} SubjectState
 * @typedef {{ subjects: string[], history: number | undefined, resume: Record<string, Position>, headers: boolean,
 *   conflateMs: number | undefined }} RestoreRequest
 */
export declare class Positions {
    /** @type {Map<string, SubjectState>} */
    subjects: Map<string, SubjectState>;
    constructor();
    /**
     * The application subscribes (or renews): the gateway sends the start again,
     * so the point is cleared to let it through even if older than what was seen.
     * @param {string} subject
     * @param {number | undefined} history
     * @param {boolean} headers
     * @param {number | undefined} [conflateMs]
     */
    subscribe(subject: string, history: number | undefined, headers: boolean, conflateMs?: number | undefined): void;
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
    /**
     * What restores every subscription on a new connection: `resume` where a
     * message was seen, `history` again where one was asked and nothing seen yet;
     * one request per kind of subscription (headers or not, conflation interval).
     * @returns {RestoreRequest[]}
     */
    restoreRequests(): RestoreRequest[];
}
