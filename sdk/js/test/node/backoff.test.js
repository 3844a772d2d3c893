// The reconnect decisions of the sans-IO ClientProtocol, fed time directly: the
// delays grow exponentially within their jitter, are capped, and start over on
// `online`; a failed attempt moves on to the next server at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientProtocol } from '../../src/sluice.js';

/**
 * @param {string[]} servers
 * @param {() => number} random
 */
function protocol(servers, random) {
  return new ClientProtocol(
    {
      servers,
      encoding: 'json',
      minDelayMs: 100,
      maxDelayMs: 1000,
      publishTimeoutMs: 10000,
      pendingPublishesMax: 10,
      whileDisconnected: 'queue',
      frameBytesMax: 1 << 20,
      connectTimeoutMs: 5000,
      reconnectOnAuthClose: false,
      random,
    },
    0,
  );
}

/** @param {ClientProtocol} p */
function drain(p) {
  const out = [];
  for (let o = p.pollOutput(); o; o = p.pollOutput()) out.push(o);
  return out;
}

/**
 * Fails every attempt of `p` at once; returns the delay before each next attempt.
 * @param {ClientProtocol} p
 * @param {number} attempts
 */
function failAttempts(p, attempts) {
  const delays = [];
  let now = 0;
  for (let i = 0; i < attempts; i++) {
    p.handleTimeout(now);
    const connect = drain(p).find((o) => o.type === 'connect');
    assert.ok(connect && connect.type === 'connect');
    p.handleClosed(now, connect.connection, 1006, '');
    drain(p);
    const next = /** @type {number} */ (p.pollTimeout());
    delays.push(next - now);
    now = next;
  }
  return delays;
}

test('delays double from minDelayMs up to maxDelayMs, the top of each jitter range', () => {
  const delays = failAttempts(
    protocol(['ws://a/v1/ws'], () => 0.999999),
    7,
  );
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('jitter draws each delay from [nominal/2, nominal]', () => {
  const delays = failAttempts(
    protocol(['ws://a/v1/ws'], () => 0),
    5,
  );
  assert.deepEqual(delays, [50, 100, 200, 400, 500]);
});

test('online starts the backoff over and retries at once', () => {
  const p = protocol(['ws://a/v1/ws'], () => 0.999999);
  failAttempts(p, 4);
  const waitingUntil = /** @type {number} */ (p.pollTimeout());
  const now = waitingUntil - 500;
  p.handleOnline(now);
  assert.equal(p.pollTimeout(), now);
  p.handleTimeout(now);
  const connect = drain(p).find((o) => o.type === 'connect');
  assert.ok(connect && connect.type === 'connect');
  p.handleClosed(now, connect.connection, 1006, '');
  drain(p);
  assert.equal(/** @type {number} */ (p.pollTimeout()) - now, 100);
});

test('a failed attempt moves on to an untried server at once; a failed round waits', () => {
  const p = protocol(['ws://a/v1/ws', 'ws://b/v1/ws', 'ws://c/v1/ws'], () => 0);
  const urls = [];
  let now = 0;
  for (let i = 0; i < 4; i++) {
    p.handleTimeout(now);
    const connect = drain(p).find((o) => o.type === 'connect');
    assert.ok(connect && connect.type === 'connect');
    urls.push(connect.url);
    p.handleClosed(now, connect.connection, 1006, '');
    drain(p);
    const next = /** @type {number} */ (p.pollTimeout());
    urls.push(next - now);
    now = next;
  }
  assert.deepEqual(urls, ['ws://a/v1/ws', 0, 'ws://b/v1/ws', 0, 'ws://c/v1/ws', 50, 'ws://a/v1/ws', 0]);
});
