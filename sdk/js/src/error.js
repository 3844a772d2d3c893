/**
 * The one error type of the SDK. `code` is a protocol error code (`not_exposed`,
 * `forbidden`, `invalid_subject`, ... see docs/protocol.md §8) or one of the local
 * codes below, so applications can match on it.
 *
 * Local codes:
 * - `invalid_argument`: an argument of the wrong type or out of range
 * - `frame_too_large`: the encoded frame is larger than `frameBytesMax`
 * - `timeout`: no answer (or no connection) within `publishTimeoutMs`, or no reply
 *   to a `request` within its `timeoutMs`
 * - `queue_full`: `pendingPublishesMax` publishes already wait for a connection
 * - `not_connected`: a publish while disconnected with `whileDisconnected: 'reject'`
 * - `connection_lost`: the connection ended before the answer; the outcome is unknown
 * - `closed`: the client was closed
 */
export class SluiceError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{ subject?: string, closeCode?: number }} [details]
   */
  constructor(code, message, details = {}) {
    super(`${code}: ${message}`);
    this.name = 'SluiceError';
    /** @type {string} */
    this.code = code;
    /** @type {string | undefined} the subject the error is about, if any */
    this.subject = details.subject;
    /** @type {number | undefined} the WebSocket close code that caused it, if any */
    this.closeCode = details.closeCode;
  }
}
