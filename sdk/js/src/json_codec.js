/**
 * The JSON encoding (`sluice.v1.json`, docs/protocol.md §4-5): client requests to
 * text, server frames from text. Both codecs use the same shapes (see `protocol.js`).
 */
import { fromBase64, toBase64 } from './payload.js';
import { payloadValue } from './payload.js';

/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').ServerFrame} ServerFrame */

/**
 * @param {Request} request
 * @returns {string}
 */
export function encodeJson(request) {
  switch (request.op) {
    case 'subscribe': {
      /** @type {Record<string, unknown>} */
      const frame = { op: 'subscribe', id: request.id, subjects: request.subjects };
      if (request.history !== undefined) frame.history = request.history;
      if (request.resume && Object.keys(request.resume).length > 0) frame.resume = request.resume;
      if (request.headers) frame.headers = true;
      if (request.conflateMs !== undefined) frame.conflate_ms = request.conflateMs;
      if (request.historyEnd) frame.history_end = true;
      if (request.delta) frame.delta = true;
      return JSON.stringify(frame);
    }
    case 'unsubscribe':
      return JSON.stringify({ op: 'unsubscribe', id: request.id, subjects: request.subjects });
    case 'publish': {
      /** @type {Record<string, unknown>} */
      const frame = { op: 'publish', id: request.id, subject: request.subject };
      if (typeof request.data === 'string') {
        frame.data = request.data;
      } else {
        frame.data = toBase64(request.data);
        frame.b64 = true;
      }
      if (!request.retained) frame.retained = false;
      if (request.qos === 'guaranteed') frame.qos = 'guaranteed';
      if (request.replyTo !== undefined) frame.reply_to = request.replyTo;
      if (request.traceparent !== undefined) frame.traceparent = request.traceparent;
      return JSON.stringify(frame);
    }
    case 'ping':
      return JSON.stringify({ op: 'ping', id: request.id });
    case 'auth':
      return JSON.stringify({ op: 'auth', id: request.id, token: request.token });
  }
}

/**
 * A message's `headers` object: a string value as it is, `{"base64": …}` as bytes
 * (or text, if they are UTF-8, as the binary codec gives them).
 * @param {unknown} object
 * @returns {import('./protocol.js').Headers}
 */
function decodeHeaders(object) {
  if (typeof object !== 'object' || object === null) throw new Error('headers is an object');
  /** @type {import('./protocol.js').Headers} */
  const headers = {};
  for (const [name, value] of Object.entries(object)) {
    if (typeof value === 'string') headers[name] = value;
    else if (typeof value?.base64 === 'string') headers[name] = payloadValue(fromBase64(value.base64));
    else throw new Error(`header ${JSON.stringify(name)} is neither a string nor {"base64": …}`);
  }
  return headers;
}

/**
 * @param {string} text
 * @returns {ServerFrame}
 */
export function decodeJson(text) {
  const f = JSON.parse(text);
  if (typeof f !== 'object' || f === null) throw new Error('a frame is a JSON object');
  switch (f.op) {
    case 'ok':
      return { op: 'ok', id: f.id };
    case 'error':
      return {
        op: 'error',
        id: f.id ?? undefined,
        subject: f.subject ?? undefined,
        code: f.code,
        message: f.message,
      };
    case 'ack':
      return { op: 'ack', id: f.id, epoch: f.epoch, seq: f.seq };
    case 'message': {
      /** @type {string | Uint8Array | null} */
      let data = f.data;
      if (f.b64 && typeof f.data === 'string') data = payloadValue(fromBase64(f.data));
      return {
        op: 'message',
        subject: f.subject,
        epoch: f.epoch,
        seq: f.seq,
        type: f.type,
        data,
        headers: f.headers == null ? undefined : decodeHeaders(f.headers),
        headersTruncated: f.headers_truncated === true,
        delta: f.delta === true,
      };
    }
    case 'status':
      if (f.status === 'token_expiring') {
        return { op: 'status', status: 'token_expiring', subject: undefined, expiresInMs: f.expires_in_ms };
      }
      return {
        op: 'status',
        status: f.status,
        subject: f.subject,
        expiresInMs: undefined,
        complete: f.complete,
      };
    default:
      throw new Error(`unknown server op ${JSON.stringify(f.op)}`);
  }
}
