/**
 * Request/reply inboxes: whose inbox a client reads, and a fresh subject in it
 * for each request.
 */
import { fromBase64 } from './payload.js';

const decoder = new TextDecoder();

/**
 * The token's `sub` (a gateway with `[auth]` lets a token read only
 * `/<inboxTopic>/<sub>/…`), or `anon` without a readable one.
 * @param {string | undefined} token
 * @returns {string}
 */
export function inboxOwner(token) {
  const payload = token?.split('.')[1];
  if (!payload) return 'anon';
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const sub = JSON.parse(decoder.decode(fromBase64(padded))).sub;
    return typeof sub === 'string' && sub !== '' && !sub.includes('/') ? sub : 'anon';
  } catch {
    return 'anon';
  }
}

/**
 * A fresh inbox subject for one request: 64 random bits, so no other client
 * can guess where to send a forged reply.
 * @param {string} inboxTopic
 * @param {string | undefined} token
 * @returns {string}
 */
export function inboxSubject(inboxTopic, token) {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `/${inboxTopic}/${inboxOwner(token)}/${id}`;
}
