/**
 * Requests awaiting their answer, by id, and publishes waiting for a connection,
 * in order, bounded in count. Each publish has a deadline (`publishTimeoutMs`
 * from the call) whether it waits for a connection or for its ack.
 */
export type Awaited = {
    op: 'subscribe';
    subjects: string[];
} | {
    op: 'unsubscribe';
} | {
    op: 'auth';
} | {
    op: 'ping';
} | {
    op: 'publish';
    deadline: number;
};
export type PendingPublish = {
    id: number;
    bytes: string | Uint8Array;
    deadline: number;
};
/**
 * @typedef {{ op: 'subscribe', subjects: string[] }
 *   | { op: 'unsubscribe' }
 *   | { op: 'auth' }
 *   | { op: 'ping' }
 *   | { op: 'publish', deadline: number }} Awaited
 * @typedef {{ id: number, bytes: string | Uint8Array, deadline: number }} PendingPublish
 */
export declare class InFlight {
    /** @type {Map<number, Awaited>} sent, answer awaited */
    sent: Map<number, Awaited>;
    /** @type {PendingPublish[]} not sent yet, oldest first */
    pending: PendingPublish[];
    pendingMax: number;
    /** @param {number} pendingMax */
    constructor(pendingMax: number);
    /**
     * @param {number} id
     * @param {Awaited} awaited
     */
    sentRequest(id: number, awaited: Awaited): void;
    /**
     * @param {number} id
     * @returns {Awaited | undefined} what was awaited, now answered
     */
    answered(id: number): Awaited | undefined;
    /**
     * @param {PendingPublish} publish
     * @returns {boolean} false when the queue is full
     */
    queue(publish: PendingPublish): boolean;
    /** @returns {PendingPublish[]} the waiting publishes, oldest first, now taken */
    takePending(): PendingPublish[];
    /**
     * The connection ended: every request sent is void.
     * @returns {number[]} ids of publishes sent and not answered (outcome unknown)
     */
    connectionLost(): number[];
    /**
     * @param {number} now
     * @returns {number[]} ids of publishes past their deadline, now forgotten
     */
    expire(now: number): number[];
    /** @returns {number | null} the earliest publish deadline */
    nextDeadline(): number | null;
}
