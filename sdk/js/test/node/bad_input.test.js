// Bad input gets a SluiceError with the protocol's code or a clear local one:
// thrown by subscribe, a rejection of publish, never a silent drop.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { Client, SluiceError } from '../../src/sluice.js';
import { Gateway, deadUrl, until } from '../support/gateway.js';
import { Recorder, nodeClient } from '../support/recorder.js';

/** @type {Gateway} */
let gateway;
before(async () => {
  gateway = await Gateway.start();
});
after(async () => {
  await gateway.kill();
});

/**
 * @param {string} code
 * @param {RegExp} [message]
 */
const sluiceError = (code, message) => (/** @type {any} */ err) => {
  assert.ok(err instanceof SluiceError, `a SluiceError, got ${err}`);
  assert.equal(err.code, code);
  if (message) assert.match(err.message, message);
  return true;
};

test('invalid subjects are refused before anything is sent, with the gateway words', async () => {
  const { client } = nodeClient({ servers: [gateway.url] });
  const cases = [
    ['demo/x', /must start with '\//],
    ['/', /topic segment is empty/],
    ['/demo/', /empty segment/],
    ['/demo//x', /empty segment/],
    ['/de mo/x', /topic names/],
    ['/demo/*', /wildcards/],
    [`/demo/${'x'.repeat(1100)}`, /at most 1024 bytes/],
  ];
  for (const [subject, message] of cases) {
    assert.throws(
      () => client.subscribe(/** @type {string} */ (subject)),
      sluiceError('invalid_subject', /** @type {RegExp} */ (message)),
    );
    await assert.rejects(
      client.publish(/** @type {string} */ (subject), 'x'),
      sluiceError('invalid_subject'),
    );
  }
  assert.throws(() => client.subscribe(/** @type {any} */ (42)), sluiceError('invalid_subject'));
  await assert.rejects(
    client.publish('/demo/x', 'y', { replyTo: 'nope' }),
    sluiceError('invalid_subject', /reply_to/),
  );
  await client.close();
});

test('wrong argument types are refused with invalid_argument', async () => {
  const { client } = nodeClient({ servers: [gateway.url] });
  await assert.rejects(client.publish('/demo/x', /** @type {any} */ (42)), sluiceError('invalid_argument'));
  await assert.rejects(
    client.publish('/demo/x', 'y', { qos: /** @type {any} */ ('best') }),
    sluiceError('invalid_argument'),
  );
  assert.throws(() => client.subscribe('/demo/x', { history: -1 }), sluiceError('invalid_argument'));
  assert.throws(
    () => client.subscribe('/demo/x', { onMessage: /** @type {any} */ ('no') }),
    sluiceError('invalid_argument'),
  );
  for (const options of [
    {},
    { servers: [] },
    { servers: ['http://x/v1/ws'] },
    { servers: [{ url: gateway.url, weight: 0 }] },
    { servers: [gateway.url], encoding: 'xml' },
    { servers: [gateway.url], reconnect: { minDelayMs: -1 } },
    { servers: [gateway.url], token: 7 },
  ]) {
    assert.throws(
      () => new Client(/** @type {any} */ ({ WebSocket, ...options })),
      sluiceError('invalid_argument'),
    );
  }
  await client.close();
});

test('a topic that is not exposed: the subscription reports not_exposed, the publish rejects with it', async () => {
  const { client } = nodeClient({ servers: [gateway.url] });
  const rec = new Recorder();
  client.subscribe('/secret/x', rec);
  assert.equal((await rec.errorStatus('not_exposed')).error, 'not_exposed');
  await assert.rejects(client.publish('/secret/x', 'y'), (/** @type {any} */ err) => {
    sluiceError('not_exposed')(err);
    assert.equal(err.subject, '/secret/x');
    return true;
  });
  await client.close();
});

test('a frame larger than frameBytesMax is refused locally and the connection goes on', async () => {
  const { client, states } = nodeClient({ servers: [gateway.url], frameBytesMax: 1000 });
  await assert.rejects(
    client.publish('/demo/big', 'x'.repeat(2000)),
    sluiceError('frame_too_large', /frameBytesMax/),
  );
  await client.publish('/demo/big', 'small');
  assert.deepEqual(states, ['connecting', 'connected']);
  await client.close();
});

test('a frame larger than the gateway allows: closed with 1009, the publish fails, the client reconnects', async () => {
  const small = await Gateway.start({
    toml: '[gateway]\nexposed_topics = ["demo"]\nframe_bytes_max = 4096\nclient_queue_bytes_max = 1048576\n',
  });
  try {
    const { client, errors } = nodeClient({ servers: [small.url] });
    await client.publish('/demo/big', 'first');
    await assert.rejects(client.publish('/demo/big', 'x'.repeat(10000)), sluiceError('connection_lost'));
    assert.ok(
      errors.some((e) => e.closeCode === 1009),
      JSON.stringify(errors),
    );
    await client.publish('/demo/big', 'after');
    await client.close();
  } finally {
    await small.kill();
  }
});

test('publishes while disconnected wait for the connection, bounded by publishTimeoutMs and pendingPublishesMax', async () => {
  const { client } = nodeClient({
    servers: [await deadUrl()],
    publishTimeoutMs: 300,
    pendingPublishesMax: 2,
  });
  const first = client.publish('/demo/wait', '1');
  const second = client.publish('/demo/wait', '2');
  await assert.rejects(client.publish('/demo/wait', '3'), sluiceError('queue_full', /pendingPublishesMax/));
  await assert.rejects(first, sluiceError('timeout'));
  await assert.rejects(second, sluiceError('timeout'));
  await client.close();
});

test("with whileDisconnected: 'reject' a publish while disconnected fails at once", async () => {
  const { client } = nodeClient({ servers: [await deadUrl()], whileDisconnected: 'reject' });
  await assert.rejects(client.publish('/demo/wait', '1'), sluiceError('not_connected'));
  await client.close();
});

test('a publish waiting for the connection is sent once connected', async () => {
  const { client } = nodeClient({ servers: [gateway.url] });
  assert.notEqual(client.state, 'connected');
  const ack = await client.publish('/demo/queued', 'waited');
  assert.equal(typeof ack.seq, 'number');
  await client.close();
});

test('after close, calls fail with closed and waiting publishes are rejected', async () => {
  const { client } = nodeClient({ servers: [await deadUrl()] });
  const waiting = client.publish('/demo/closed', 'x');
  await client.close();
  await assert.rejects(waiting, sluiceError('closed'));
  await assert.rejects(client.publish('/demo/closed', 'y'), sluiceError('closed'));
  assert.throws(() => client.subscribe('/demo/closed'), sluiceError('closed'));
  assert.equal(client.state, 'closed');
});

test('no WebSocket implementation is a clear error', () => {
  const saved = /** @type {any} */ (globalThis).WebSocket;
  /** @type {any} */ (globalThis).WebSocket = undefined;
  try {
    assert.throws(() => new Client({ servers: [gateway.url] }), sluiceError('invalid_argument', /WebSocket/));
  } finally {
    /** @type {any} */ (globalThis).WebSocket = saved;
  }
});

test('nothing is left unhandled: errors are events, never unhandled rejections', async () => {
  /** @type {unknown[]} */
  const unhandled = [];
  const onUnhandled = (/** @type {unknown} */ e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const { client } = nodeClient({ servers: [await deadUrl()], connectTimeoutMs: 200 });
    await until(() => client.state === 'disconnected', 'a failed attempt');
    await client.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
