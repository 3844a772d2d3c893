// Failover over the server list (by weight, moving on after a failure), and
// `resync` when the log the client was reading is gone (a restarted gateway).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Gateway, deadUrl, until } from '../support/gateway.js';
import { Recorder, nodeClient } from '../support/recorder.js';

/** @type {Gateway} */
let a;
/** @type {Gateway} */
let b;
before(async () => {
  [a, b] = await Promise.all([Gateway.start(), Gateway.start()]);
});
after(async () => {
  await Promise.all([a.kill(), b.kill()]);
});

test('a server that refuses connections is skipped for the next one in the list', async () => {
  const dead = await deadUrl();
  // random() = 0 picks the first candidate: the dead server, then the only one left.
  const { client, states } = nodeClient({ servers: [dead, b.url], random: () => 0 });
  const ack = await client.publish('/demo/failover-skip', 'hello');
  assert.equal(client.server, b.url);
  assert.equal(typeof ack.seq, 'number');
  assert.deepEqual(states.slice(0, 4), ['connecting', 'disconnected', 'connecting', 'connected']);
  await client.close();
});

test('servers are picked in proportion to their weight', async () => {
  // Weights 1 and 3: a draw of 0.5 falls in the second server's share.
  const { client } = nodeClient({
    servers: [
      { url: a.url, weight: 1 },
      { url: b.url, weight: 3 },
    ],
    random: () => 0.5,
  });
  await until(() => client.state === 'connected', 'connected');
  assert.equal(client.server, b.url);
  await client.close();
  const other = nodeClient({
    servers: [
      { url: a.url, weight: 3 },
      { url: b.url, weight: 1 },
    ],
    random: () => 0.5,
  });
  await until(() => other.client.state === 'connected', 'connected');
  assert.equal(other.client.server, a.url);
  await other.client.close();
});

test('when its gateway dies the client fails over to the other and its subscription carries on (resync)', async () => {
  const subject = '/demo/failover-live';
  const first = await Gateway.start();
  try {
    const { client, states } = nodeClient({ servers: [first.url, b.url], random: () => 0 });
    const rec = new Recorder();
    client.subscribe(subject, rec);
    await rec.status('subscribed');
    assert.equal(client.server, first.url);
    await client.publish(subject, 'on first');
    await rec.message('on first');
    await first.kill();
    await until(() => client.server === b.url && client.state === 'connected', 'failover to b');
    // b's log is another one (another broker): the position is void, said out loud.
    await rec.status('resync');
    const ack = await client.publish(subject, 'on second');
    const m = await rec.message('on second');
    assert.deepEqual([m.seq, m.epoch, m.type], [ack.seq, ack.epoch, 'update']);
    assert.deepEqual(states.slice(-3), ['disconnected', 'connecting', 'connected']);
    await client.close();
  } finally {
    await first.kill();
  }
});

/**
 * Subscribes to `subject`, publishes once, restarts `gateway` and waits for
 * `status`, then publishes again; returns both acks and the recorder.
 * @param {Gateway} gateway
 * @param {string} status
 */
async function publishAcrossRestart(gateway, status) {
  const subject = '/demo/restart';
  const { client } = nodeClient({ servers: [gateway.url] });
  const rec = new Recorder();
  client.subscribe(subject, rec);
  await rec.status('subscribed');
  const before = await client.publish(subject, 'before restart');
  await rec.message('before restart');
  await gateway.restart();
  await rec.status(status);
  const after = await client.publish(subject, 'after restart');
  await rec.message('after restart');
  assert.deepEqual(rec.data(), ['before restart', 'after restart']);
  await client.close();
  return { before, after, rec };
}

test('after a gateway restart on the embedded broker the client resumes with no gap: its log is on disk', async () => {
  const gateway = await Gateway.start();
  try {
    const { before, after, rec } = await publishAcrossRestart(gateway, 'sync');
    assert.equal(after.epoch, before.epoch);
    assert.equal(after.seq, before.seq + 1);
    assert.equal(rec.statuses.filter((s) => s === 'resync').length, 0);
  } finally {
    await gateway.kill();
  }
});

test('after a restart of a gateway keeping its log in memory the client is told `resync`, then gets live messages', async () => {
  const gateway = await Gateway.start({
    toml: '[gateway]\nexposed_topics = ["demo", "chat", "_inbox"]\n[broker.embedded]\nstorage = "memory"\n',
  });
  try {
    const { before, after, rec } = await publishAcrossRestart(gateway, 'resync');
    assert.notEqual(after.epoch, before.epoch);
    assert.equal(rec.statuses.filter((s) => s === 'sync').length, 0);
  } finally {
    await gateway.kill();
  }
});
