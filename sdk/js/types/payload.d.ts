/** Payload bytes: UTF-8 text or raw bytes, and base64 for the JSON encoding. */
/**
 * The bytes of a payload given as a string (its UTF-8) or bytes.
 * @param {string | Uint8Array} data
 * @returns {Uint8Array}
 */
export declare function payloadBytes(data: string | Uint8Array): Uint8Array;
/**
 * What applications receive: a string when the bytes are valid UTF-8, else the bytes.
 * @param {Uint8Array} bytes
 * @returns {string | Uint8Array}
 */
export declare function payloadValue(bytes: Uint8Array): string | Uint8Array;
/**
 * Standard padded base64 (RFC 4648).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export declare function toBase64(bytes: Uint8Array): string;
/**
 * @param {string} text standard padded base64
 * @returns {Uint8Array}
 */
export declare function fromBase64(text: string): Uint8Array;
