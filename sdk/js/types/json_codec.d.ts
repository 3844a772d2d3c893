export type Request = import('./protocol.js').Request;
export type ServerFrame = import('./protocol.js').ServerFrame;
/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').ServerFrame} ServerFrame */
/**
 * @param {Request} request
 * @returns {string}
 */
export declare function encodeJson(request: Request): string;
/**
 * @param {string} text
 * @returns {ServerFrame}
 */
export declare function decodeJson(text: string): ServerFrame;
