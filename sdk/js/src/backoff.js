/**
 * Reconnect delays: exponential, capped and jittered, so the clients of a gateway
 * that restarts do not all come back in the same instant. The n-th delay (from 0)
 * is drawn uniformly from `[nominal / 2, nominal]`, `nominal = min(max, min * 2^n)`.
 */
export class Backoff {
  /**
   * @param {number} minDelayMs
   * @param {number} maxDelayMs
   * @param {() => number} random uniform in [0, 1)
   */
  constructor(minDelayMs, maxDelayMs, random) {
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = Math.max(minDelayMs, maxDelayMs);
    this.random = random;
    this.attempt = 0;
  }

  /** @returns {number} the delay before the next attempt; doubles the nominal delay */
  nextDelayMs() {
    const nominal = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    if (nominal < this.maxDelayMs) this.attempt += 1;
    return Math.round(nominal / 2 + (this.random() * nominal) / 2);
  }

  /** Back to the shortest delay: a connection opened, or the network came back. */
  reset() {
    this.attempt = 0;
  }
}
