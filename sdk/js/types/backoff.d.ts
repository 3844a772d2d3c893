/**
 * Reconnect delays: exponential, capped and jittered, so the clients of a gateway
 * that restarts do not all come back in the same instant. The n-th delay (from 0)
 * is drawn uniformly from `[nominal / 2, nominal]`, `nominal = min(max, min * 2^n)`.
 */
export declare class Backoff {
    minDelayMs: number;
    maxDelayMs: number;
    random: () => number;
    attempt: number;
    /**
     * @param {number} minDelayMs
     * @param {number} maxDelayMs
     * @param {() => number} random uniform in [0, 1)
     */
    constructor(minDelayMs: number, maxDelayMs: number, random: () => number);
    /** @returns {number} the delay before the next attempt; doubles the nominal delay */
    nextDelayMs(): number;
    /** Back to the shortest delay: a connection opened, or the network came back. */
    reset(): void;
}
