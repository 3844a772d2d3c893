/** A `jwt` gateway's config and tokens issued with `sluice token`, as an operator would. */
import { Gateway } from './gateway.js';

const SECRET = 'js-sdk-test-secret-js-sdk-test-secret';

/**
 * @param {{ revokedFile?: string, extraGateway?: string }} [options]
 * @returns {string} the TOML of a jwt gateway with key k1 (HS256)
 */
export function jwtToml(options = {}) {
  const revoked = options.revokedFile
    ? `revoked_tokens_file = ${JSON.stringify(options.revokedFile)}\nrevoked_tokens_poll_ms = 3600000\n`
    : '';
  return (
    `[gateway]\nexposed_topics = ["demo", "chat", "_inbox"]\n${options.extraGateway ?? ''}\n` +
    `[auth]\nmode = "jwt"\n${revoked}\n` +
    `[[auth.keys]]\nkid = "k1"\nalgorithm = "HS256"\nsecret = ${JSON.stringify(SECRET)}\n`
  );
}

/**
 * A token for `user` on `/demo/>`, signed with the gateway's key.
 * @param {Gateway} gateway
 * @param {{ user?: string, jti: string, ttlS?: number }} claims
 */
export function issueToken(gateway, claims) {
  return Gateway.cli([
    'token',
    '--config',
    gateway.config,
    '--kid',
    'k1',
    '--user',
    claims.user ?? 'ann',
    '--all',
    '/demo/>',
    '--jti',
    claims.jti,
    '--ttl-s',
    String(claims.ttlS ?? 3600),
  ]).trim();
}
