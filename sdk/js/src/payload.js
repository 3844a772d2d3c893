/** Payload bytes: UTF-8 text or raw bytes, and base64 for the JSON encoding. */

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The bytes of a payload given as a string (its UTF-8) or bytes.
 * @param {string | Uint8Array} data
 * @returns {Uint8Array}
 */
export function payloadBytes(data) {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

/**
 * What applications receive: a string when the bytes are valid UTF-8, else the bytes.
 * @param {Uint8Array} bytes
 * @returns {string | Uint8Array}
 */
export function payloadValue(bytes) {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return bytes;
  }
}

/**
 * Standard padded base64 (RFC 4648).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * @param {string} text standard padded base64
 * @returns {Uint8Array}
 */
export function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
