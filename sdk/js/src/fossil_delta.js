/**
 * Fossil deltas (protocol 1.1, `delta: true`): a value as copies from the previous
 * value and literal bytes, in the format Fossil SCM defined (the one Centrifugo
 * uses). Only applying is needed here; a malformed delta throws, and its claimed
 * size is checked before anything is allocated for it.
 *
 *   delta   = size "\n" command* checksum ";"
 *   command = count "@" offset ","  (copy from the base) | count ":" bytes (literal)
 *
 * Integers are base-64 digits (0-9 A-Z _ a-z ~), most significant first.
 */

/** The largest value a delta may make. */
const VALUE_BYTES_MAX = 64 * 1024 * 1024;

/** Digit values by character code; -1 for a non-digit. */
const DIGITS = new Int8Array(128).fill(-1);
'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~'.split('').forEach((c, i) => {
  DIGITS[c.charCodeAt(0)] = i;
});

/**
 * Fossil's checksum: four byte lanes summed, folded big-endian (32 bits).
 * @param {Uint8Array} bytes
 */
export function checksum(bytes) {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const whole = bytes.length - (bytes.length % 4);
  for (let i = 0; i < whole; i += 4) {
    s0 = (s0 + bytes[i]) >>> 0;
    s1 = (s1 + bytes[i + 1]) >>> 0;
    s2 = (s2 + bytes[i + 2]) >>> 0;
    s3 = (s3 + bytes[i + 3]) >>> 0;
  }
  let sum = (s3 + ((s2 << 8) >>> 0) + ((s1 << 16) >>> 0) + ((s0 << 24) >>> 0)) >>> 0;
  for (let i = whole; i < bytes.length; i++) {
    sum = (sum + ((bytes[i] << (24 - 8 * (i - whole))) >>> 0)) >>> 0;
  }
  return sum;
}

/**
 * The value `delta` makes of `base`. Throws `Error` for a malformed delta.
 * @param {Uint8Array} base
 * @param {Uint8Array} delta
 * @returns {Uint8Array}
 */
export function applyDelta(base, delta) {
  let at = 0;
  const int = () => {
    let value = 0;
    const start = at;
    while (at < delta.length && delta[at] < 128 && DIGITS[delta[at]] >= 0) {
      value = value * 64 + DIGITS[delta[at]];
      if (value > Number.MAX_SAFE_INTEGER / 64) throw new Error('delta: integer too large');
      at++;
    }
    if (at === start) throw new Error('delta: expected an integer');
    return value;
  };
  const expect = (/** @type {string} */ c) => {
    if (delta[at] !== c.charCodeAt(0)) throw new Error(`delta: expected ${JSON.stringify(c)}`);
    at++;
  };
  const size = int();
  expect('\n');
  if (size > VALUE_BYTES_MAX) throw new Error(`delta: a value of ${size} bytes is too large`);
  const out = new Uint8Array(size);
  let length = 0;
  const push = (/** @type {Uint8Array} */ part) => {
    if (length + part.length > size) throw new Error('delta: more bytes than its size');
    out.set(part, length);
    length += part.length;
  };
  for (;;) {
    const count = int();
    const command = delta[at++];
    if (command === 0x40 /* @ */) {
      const offset = int();
      expect(',');
      if (offset + count > base.length) throw new Error('delta: copies beyond its base');
      push(base.subarray(offset, offset + count));
    } else if (command === 0x3a /* : */) {
      if (at + count > delta.length) throw new Error('delta: literal truncated');
      push(delta.subarray(at, at + count));
      at += count;
    } else if (command === 0x3b /* ; */) {
      if (length !== size || checksum(out) !== count) throw new Error('delta: size or checksum mismatch');
      return out;
    } else {
      throw new Error('delta: unknown command');
    }
  }
}
