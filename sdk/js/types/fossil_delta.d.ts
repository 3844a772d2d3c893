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
/**
 * Fossil's checksum: four byte lanes summed, folded big-endian (32 bits).
 * @param {Uint8Array} bytes
 */
export declare function checksum(bytes: Uint8Array): number;
/**
 * The value `delta` makes of `base`. Throws `Error` for a malformed delta.
 * @param {Uint8Array} base
 * @param {Uint8Array} delta
 * @returns {Uint8Array}
 */
export declare function applyDelta(base: Uint8Array, delta: Uint8Array): Uint8Array;
