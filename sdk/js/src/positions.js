/**
 * Subscribed subjects and their resume points `(epoch, seq)`: what a reconnect
 * restores, the de-duplication of messages by seq, and each delta subscription's
 * last value (what the next delta applies to). Pure bookkeeping.
 */

import { applyDelta } from './fossil_delta.js';
import { payloadBytes, payloadValue } from './payload.js';

/**
 * @typedef {{ epoch: string, seq: number }} Position
 * @typedef {{ history?: number, headers?: boolean, conflateMs?: number, delta?: boolean }} Asked
 *   what a subscribe asks besides its subjects
 * @typedef {{ history: number | undefined, headers: boolean, conflateMs: number | undefined, delta: boolean,
 *   point: Position | null, confirmed: boolean, deltaBase: Uint8Array | null }} SubjectState
 * @typedef {{ subjects: string[], history: number | undefined, resume: Record<string, Position>, headers: boolean,
 *   conflateMs: number | undefined, delta: boolean }} RestoreRequest
 */

export class Positions {
  constructor() {
    /** @type {Map<string, SubjectState>} */
    this.subjects = new Map();
  }

  /**
   * The application subscribes (or renews): the gateway sends the start again,
   * so the point is cleared to let it through even if older than what was seen.
   * A renewal's delta value stays until the gateway's `ok` (messages of the old
   * subscription may come first).
   * @param {string} subject
   * @param {Asked} asked
   */
  subscribe(subject, asked) {
    const deltaBase = this.subjects.get(subject)?.deltaBase ?? null;
    this.subjects.set(subject, {
      history: asked.history,
      headers: asked.headers === true,
      conflateMs: asked.conflateMs,
      delta: asked.delta === true,
      point: null,
      confirmed: false,
      deltaBase,
    });
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
    if (!state) return false;
    // The gateway starts the subscription's delta chain afresh.
    state.deltaBase = null;
    if (state.confirmed) return false;
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
    if (state) {
      state.point = null;
      state.deltaBase = null;
    }
  }

  /** A new connection: the gateway starts every delta chain afresh. */
  newConnection() {
    for (const state of this.subjects.values()) state.deltaBase = null;
  }

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
  rebuild(subject, data, isDelta) {
    const state = this.subjects.get(subject);
    if (!state) return data;
    let value = data;
    if (isDelta) {
      if (state.deltaBase === null || data === null) {
        throw new Error(`a delta on ${subject} with no value before it`);
      }
      value = payloadValue(applyDelta(state.deltaBase, payloadBytes(data)));
    }
    if (state.delta) state.deltaBase = value === null ? null : payloadBytes(value);
    return value;
  }

  /**
   * What restores every subscription on a new connection: `resume` where a
   * message was seen, `history` again where one was asked and nothing seen yet;
   * one request per kind of subscription (headers or not, conflation interval,
   * deltas or not).
   * @returns {RestoreRequest[]}
   */
  restoreRequests() {
    /** @type {Map<string, { headers: boolean, conflateMs: number | undefined, delta: boolean,
     *   subjects: [string, SubjectState][] }>} */
    const kinds = new Map();
    for (const entry of this.subjects) {
      const { headers, conflateMs, delta } = entry[1];
      const key = `${headers}/${conflateMs}/${delta}`;
      if (!kinds.has(key)) kinds.set(key, { headers, conflateMs, delta, subjects: [] });
      kinds.get(key)?.subjects.push(entry);
    }
    /** @type {RestoreRequest[]} */
    const requests = [];
    for (const { headers, conflateMs, delta, subjects } of kinds.values()) {
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
          withHistory.push({
            subjects: [subject],
            history: state.history,
            resume: {},
            headers,
            conflateMs,
            delta,
          });
        } else {
          plain.push(subject);
        }
      }
      if (plain.length > 0)
        requests.push({ subjects: plain, history: undefined, resume, headers, conflateMs, delta });
      requests.push(...withHistory);
    }
    return requests;
  }
}
