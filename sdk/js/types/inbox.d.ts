/**
 * The token's `sub` (a gateway with `[auth]` lets a token read only
 * `/<inboxTopic>/<sub>/…`), or `anon` without a readable one.
 * @param {string | undefined} token
 * @returns {string}
 */
export declare function inboxOwner(token: string | undefined): string;
/**
 * A fresh inbox subject for one request: 64 random bits, so no other client
 * can guess where to send a forged reply.
 * @param {string} inboxTopic
 * @param {string | undefined} token
 * @returns {string}
 */
export declare function inboxSubject(inboxTopic: string, token: string | undefined): string;
