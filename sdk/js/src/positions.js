/**
 * Subscribed subjects and their resume points `(epoch, seq)`: what a reconnect
 * restores, and the de-duplication of messages by seq. Pure bookkeeping.
 */

/**
 * @typedef {{ epoch: string, seq: number }} Position
 * @typedef {{ history: number | undefined, headers: boolean, conflateMs: number | undefined, point: Position | null,
 *   confirmed: boolean }} SubjectState
 * @typedef {{ subjects: string[], history: number | undefined, resume: Record<string, Position>, headers: boolean,
 *   conflateMs: number | undefined }} RestoreRequest
 */

export class Positions {
  constructor() {
    /** @type {Map<string, SubjectState>} */
    this.subjects = new Map();
  }

  /**
   * The application subscribes (or renews): the gateway sends the start again,
   * so the point is cleared to let it through even if older than what was seen.
   * @param {string} subject
   * @param {number | undefined} history
   * @param {boolean} headers
   * @param {number | undefined} [conflateMs]
   */
  subscribe(subject, history, headers, conflateMs = undefined) {
    this.subjects.set(subject, { history, headers, conflateMs, point: null, confirmed: false });
  }

  /** @param {string} subject */
  unsubscribe(subject) {
    this.subjects.delete(subject);
  }

  /** @param {string} subject */
  has(subject) {
    return this.subjects.has(subject);
  }

  /**
   * The gateway accepted the subscription.
   * @param {string} subject
   * @returns {boolean} whether it is the first time (not a restore)
   */
  confirm(subject) {
    const state = this.subjects.get(subject);
    if (!state || state.confirmed) return false;
    state.confirmed = true;
    return true;
  }

  /**
   * Whether a message reaches the application; if so it becomes the subject's
   * resume point. Dropped: subjects not subscribed (stragglers after an
   * unsubscribe) and duplicates, i.e. the same epoch and a seq not above the last.
   * A different epoch is another log, whose offsets are not comparable: taken.
   * @param {string} subject
   * @param {string} epoch
   * @param {number} seq
   */
  accept(subject, epoch, seq) {
    const state = this.subjects.get(subject);
    if (!state) return false;
    if (state.point && state.point.epoch === epoch && seq <= state.point.seq) return false;
    state.point = { epoch, seq };
    return true;
  }

  /**
   * The gateway voided the position: the snapshot that follows is the truth,
   * even if older than what was seen.
   * @param {string} subject
   */
  resynced(subject) {
    const state = this.subjects.get(subject);
    if (state) state.point = null;
  }

  /**
   * What restores every subscription on a new connection: `resume` where a
   * message was seen, `history` again where one was asked and nothing seen yet;
   * one request per kind of subscription (headers or not, conflation interval).
   * @returns {RestoreRequest[]}
   */
  restoreRequests() {
    /** @type {Map<string, { headers: boolean, conflateMs: number | undefined, subjects: [string, SubjectState][] }>} */
    const kinds = new Map();
    for (const entry of this.subjects) {
      const { headers, conflateMs } = entry[1];
      const key = `${headers}/${conflateMs}`;
      if (!kinds.has(key)) kinds.set(key, { headers, conflateMs, subjects: [] });
      kinds.get(key)?.subjects.push(entry);
    }
    /** @type {RestoreRequest[]} */
    const requests = [];
    for (const { headers, conflateMs, subjects } of kinds.values()) {
      /** @type {Record<string, Position>} */
      const resume = {};
      const plain = [];
      /** @type {RestoreRequest[]} */
      const withHistory = [];
      for (const [subject, state] of subjects) {
        if (state.point) {
          resume[subject] = state.point;
          plain.push(subject);
        } else if (state.history !== undefined) {
          withHistory.push({ subjects: [subject], history: state.history, resume: {}, headers, conflateMs });
        } else {
          plain.push(subject);
        }
      }
      if (plain.length > 0)
        requests.push({ subjects: plain, history: undefined, resume, headers, conflateMs });
      requests.push(...withHistory);
    }
    return requests;
  }
}
