/**
 * Requests awaiting their answer, by id, and publishes waiting for a connection,
 * in order, bounded in count. Each publish has a deadline (`publishTimeoutMs`
 * from the call) whether it waits for a connection or for its ack.
 */

/**
 * @typedef {{ op: 'subscribe', subjects: string[] }
 *   | { op: 'unsubscribe' }
 *   | { op: 'auth' }
 *   | { op: 'ping' }
 *   | { op: 'publish', deadline: number }} Awaited
 * @typedef {{ id: number, bytes: string | Uint8Array, deadline: number }} PendingPublish
 */

export class InFlight {
  /** @param {number} pendingMax */
  constructor(pendingMax) {
    /** @type {Map<number, Awaited>} sent, answer awaited */
    this.sent = new Map();
    /** @type {PendingPublish[]} not sent yet, oldest first */
    this.pending = [];
    this.pendingMax = pendingMax;
  }

  /**
   * @param {number} id
   * @param {Awaited} awaited
   */
  sentRequest(id, awaited) {
    this.sent.set(id, awaited);
  }

  /**
   * @param {number} id
   * @returns {Awaited | undefined} what was awaited, now answered
   */
  answered(id) {
    const awaited = this.sent.get(id);
    this.sent.delete(id);
    return awaited;
  }

  /**
   * @param {PendingPublish} publish
   * @returns {boolean} false when the queue is full
   */
  queue(publish) {
    if (this.pending.length >= this.pendingMax) return false;
    this.pending.push(publish);
    return true;
  }

  /** @returns {PendingPublish[]} the waiting publishes, oldest first, now taken */
  takePending() {
    const taken = this.pending;
    this.pending = [];
    return taken;
  }

  /**
   * The connection ended: every request sent is void.
   * @returns {number[]} ids of publishes sent and not answered (outcome unknown)
   */
  connectionLost() {
    const lost = [];
    for (const [id, awaited] of this.sent) if (awaited.op === 'publish') lost.push(id);
    this.sent.clear();
    return lost;
  }

  /**
   * @param {number} now
   * @returns {number[]} ids of publishes past their deadline, now forgotten
   */
  expire(now) {
    const expired = [];
    this.pending = this.pending.filter((p) => {
      if (p.deadline > now) return true;
      expired.push(p.id);
      return false;
    });
    for (const [id, awaited] of this.sent) {
      if (awaited.op === 'publish' && awaited.deadline <= now) {
        expired.push(id);
        this.sent.delete(id);
      }
    }
    return expired;
  }

  /** @returns {number | null} the earliest publish deadline */
  nextDeadline() {
    let next = null;
    for (const p of this.pending) if (next === null || p.deadline < next) next = p.deadline;
    for (const awaited of this.sent.values()) {
      if (awaited.op === 'publish' && (next === null || awaited.deadline < next)) next = awaited.deadline;
    }
    return next;
  }
}
