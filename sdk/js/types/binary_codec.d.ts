export type Request = import('./protocol.js').Request;
export type ServerFrame = import('./protocol.js').ServerFrame;
/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').ServerFrame} ServerFrame */
/** Error codes in wire order: byte = index + 1. */
export declare const ERROR_CODES: string[];
/**
 * @param {Request} request
 * @returns {Uint8Array}
 */
export declare function encodeBinary(request: Request): Uint8Array;
/**
 * @param {Uint8Array} bytes
 * @returns {ServerFrame}
 */
export declare function decodeBinary(bytes: Uint8Array): ServerFrame;
