/**
 * The binary encoding (`sluice.v1.bin`, docs/protocol.md §11): big-endian, one
 * frame per WebSocket message. Same shapes as `json_codec.js`.
 */
import { payloadBytes, payloadValue } from './payload.js';

/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').ServerFrame} ServerFrame */

/** Error codes in wire order: byte = index + 1. */
export const ERROR_CODES = [
  'invalid_frame',
  'unknown_op',
  'invalid_subject',
  'invalid_data',
  'not_exposed',
  'too_large',
  'too_many_subscriptions',
  'forbidden',
  'unavailable',
  'rate_limited',
  'internal',
  'unauthorized',
];
const KINDS = [undefined, 'snapshot', 'update', 'recovered', 'history'];
const STATUSES = [undefined, 'sync', 'resync', 'token_expiring', 'history_end'];

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Appends big-endian fields to a growing byte array. */
class Writer {
  constructor() {
    /** @type {number[] | Uint8Array[]} */
    this.parts = [];
    this.length = 0;
  }
  /** @param {Uint8Array} bytes */
  raw(bytes) {
    /** @type {Uint8Array[]} */ (this.parts).push(bytes);
    this.length += bytes.length;
  }
  /** @param {number} v */
  u8(v) {
    this.raw(Uint8Array.of(v));
  }
  /** @param {number} v */
  u16(v) {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v);
    this.raw(b);
  }
  /** @param {number} v */
  u32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    this.raw(b);
  }
  /** @param {number} v */
  u64(v) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v));
    this.raw(b);
  }
  /** @param {string} s */
  str(s) {
    const bytes = encoder.encode(s);
    if (bytes.length > 0xffff) throw new RangeError('a string is at most 65535 bytes in binary');
    this.u16(bytes.length);
    this.raw(bytes);
  }
  /** @returns {Uint8Array} */
  finish() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of /** @type {Uint8Array[]} */ (this.parts)) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

/** Reads big-endian fields; throws on a short frame. */
class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = 0;
  }
  /** @param {number} n */
  need(n) {
    if (this.at + n > this.bytes.length) throw new Error('truncated frame');
    const at = this.at;
    this.at += n;
    return at;
  }
  u8() {
    return this.view.getUint8(this.need(1));
  }
  u16() {
    return this.view.getUint16(this.need(2));
  }
  u32() {
    return this.view.getUint32(this.need(4));
  }
  u64() {
    return Number(this.view.getBigUint64(this.need(8)));
  }
  str() {
    const n = this.u16();
    const at = this.need(n);
    return decoder.decode(this.bytes.subarray(at, at + n));
  }
  bytesField() {
    const n = this.u32();
    const at = this.need(n);
    return this.bytes.slice(at, at + n);
  }
  end() {
    if (this.at !== this.bytes.length) throw new Error('trailing bytes after frame');
  }
}

/**
 * @param {Request} request
 * @returns {Uint8Array}
 */
export function encodeBinary(request) {
  const w = new Writer();
  switch (request.op) {
    case 'subscribe': {
      w.u8(0x01);
      w.u64(request.id);
      const history = request.history !== undefined;
      const conflated = request.conflateMs !== undefined;
      const flags = (history ? 1 : 0) | (request.headers ? 2 : 0) | (conflated ? 4 : 0);
      w.u8(flags | (request.historyEnd ? 8 : 0) | (request.delta ? 16 : 0));
      if (history) w.u32(/** @type {number} */ (request.history));
      if (conflated) w.u32(/** @type {number} */ (request.conflateMs));
      w.u16(request.subjects.length);
      for (const subject of request.subjects) {
        w.str(subject);
        const point = request.resume?.[subject];
        if (point) {
          w.u8(1);
          w.str(point.epoch);
          w.u64(point.seq);
        } else {
          w.u8(0);
        }
      }
      break;
    }
    case 'unsubscribe':
      w.u8(0x02);
      w.u64(request.id);
      w.u16(request.subjects.length);
      for (const subject of request.subjects) w.str(subject);
      break;
    case 'publish': {
      w.u8(0x03);
      w.u64(request.id);
      let flags = 0;
      if (request.retained) flags |= 1;
      if (request.qos === 'guaranteed') flags |= 2;
      if (request.replyTo !== undefined) flags |= 4;
      if (request.traceparent !== undefined) flags |= 8;
      w.u8(flags);
      w.str(request.subject);
      if (request.replyTo !== undefined) w.str(request.replyTo);
      if (request.traceparent !== undefined) w.str(request.traceparent);
      const data = payloadBytes(request.data);
      w.u32(data.length);
      w.raw(data);
      break;
    }
    case 'ping':
      w.u8(0x04);
      w.u64(request.id);
      break;
    case 'auth':
      w.u8(0x05);
      w.u64(request.id);
      w.str(request.token);
      break;
  }
  return w.finish();
}

/**
 * @param {Uint8Array} bytes
 * @returns {ServerFrame}
 */
export function decodeBinary(bytes) {
  const r = new Reader(bytes);
  /** @type {ServerFrame} */
  let frame;
  const op = r.u8();
  switch (op) {
    case 0x81:
      frame = { op: 'ok', id: r.u64() };
      break;
    case 0x82: {
      const flags = r.u8();
      const id = flags & 1 ? r.u64() : undefined;
      const subject = flags & 2 ? r.str() : undefined;
      const code = ERROR_CODES[r.u8() - 1] ?? 'internal';
      frame = { op: 'error', id, subject, code, message: r.str() };
      break;
    }
    case 0x83: {
      const type = /** @type {import('./protocol.js').MessageType} */ (KINDS[r.u8()]);
      if (!type) throw new Error('unknown message kind');
      const flags = r.u8();
      const subject = r.str();
      const epoch = r.str();
      const seq = r.u64();
      const data = flags & 1 ? null : payloadValue(r.bytesField());
      /** @type {import('./protocol.js').Headers | undefined} */
      let headers;
      if (flags & 2) {
        headers = {};
        // A name repeated in the record: the last value, as in the JSON encoding.
        for (let n = r.u16(); n > 0; n--) headers[r.str()] = payloadValue(r.bytesField());
      }
      frame = {
        op: 'message',
        subject,
        epoch,
        seq,
        type,
        data,
        headers,
        headersTruncated: (flags & 4) !== 0,
        delta: (flags & 8) !== 0,
      };
      break;
    }
    case 0x84:
      frame = { op: 'ack', id: r.u64(), epoch: r.str(), seq: r.u64() };
      break;
    case 0x85: {
      const status = STATUSES[r.u8()];
      if (status === 'token_expiring') {
        frame = { op: 'status', status, subject: undefined, expiresInMs: r.u64() };
      } else if (status === 'sync' || status === 'resync') {
        frame = { op: 'status', status, subject: r.str(), expiresInMs: undefined };
      } else if (status === 'history_end') {
        const subject = r.str();
        const complete = r.u8();
        if (complete > 1) throw new Error('history_end complete must be 0 or 1');
        frame = { op: 'status', status, subject, expiresInMs: undefined, complete: complete === 1 };
      } else {
        throw new Error('unknown status');
      }
      break;
    }
    default:
      throw new Error(`unknown server op 0x${op.toString(16)}`);
  }
  r.end();
  return frame;
}
