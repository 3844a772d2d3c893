// Resume: after a lost connection the subscription carries on from its last
// (epoch, seq) with exactly the missed messages, as `recovered`, then `sync`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Gateway, scratchDir, until } from '../support/gateway.js';
import { issueToken, jwtToml } from '../support/jwt.js';
import { Recorder, nodeClient } from '../support/recorder.js';

/** @type {Gateway} */
let gateway;
/** @type {string} */
let revokedFile;
before(async () => {
  const dir = scratchDir();
  revokedFile = `${dir}/revoked.txt`;
  writeFileSync(revokedFile, '');
  gateway = await Gateway.start({ dir, toml: jwtToml({ revokedFile }) });
});
after(async () => {
  await gateway.kill();
});

test('closed by the gateway (token revoked), the client reconnects and resumes with no gap and no duplicate', async () => {
  const subject = '/demo/resume-close';
  /** @type {Promise<void> | null} */
  let gate = null;
  let calls = 0;
  // Each connection gets a fresh token; the test holds the reconnect at the gate
  // until it has published what the reader must recover.
  const token = async () => {
    calls += 1;
    const jti = `reader-${calls}`;
    if (gate) await gate;
    return issueToken(gateway, { jti });
  };
  const reader = nodeClient({ servers: [gateway.url], token });
  const writer = nodeClient({
    servers: [gateway.url],
    token: issueToken(gateway, { user: 'bob', jti: 'writer' }),
  });
  const rec = new Recorder();
  reader.client.subscribe(subject, rec);
  await rec.status('subscribed');
  await writer.client.publish(subject, 'm1');
  await writer.client.publish(subject, 'm2');
  await rec.message('m2');

  /** @type {() => void} */
  let open = () => {};
  gate = new Promise((r) => (open = r));
  gateway.writeFile('revoked.txt', 'reader-1\n');
  gateway.signal('SIGHUP');
  await until(() => calls === 2, 'the reconnect asking for a token');
  assert.equal(reader.client.state, 'connecting');
  const acks = [];
  for (const m of ['m3', 'm4', 'm5']) acks.push(await writer.client.publish(subject, m));
  open();
  await rec.status('sync');
  await writer.client.publish(subject, 'm6');
  await rec.message('m6');

  assert.deepEqual(rec.data(), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  assert.deepEqual(
    rec.events.map((e) => ('status' in e ? e.status : e.type)),
    ['subscribed', 'update', 'update', 'recovered', 'recovered', 'recovered', 'sync', 'update'],
  );
  assert.deepEqual(
    rec.messages.slice(2, 5).map((m) => m.seq),
    acks.map((a) => a.seq),
  );
  assert.deepEqual(reader.states, ['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
  assert.equal(reader.errors[0]?.closeCode, 4003);
  await reader.client.close();
  await writer.client.close();
});

test('a connection dropped by the client resumes the same way, and `online` retries at once', async () => {
  const subject = '/demo/resume-drop';
  const online = new EventTarget();
  let jti = 0;
  const token = async () => issueToken(gateway, { jti: `dropper-${++jti}` });
  const reader = nodeClient({ servers: [gateway.url], token, onlineEvents: online });
  const writer = nodeClient({
    servers: [gateway.url],
    token: issueToken(gateway, { user: 'bob', jti: 'w2' }),
  });
  const rec = new Recorder();
  reader.client.subscribe(subject, rec);
  await rec.status('subscribed');
  await writer.client.publish(subject, 'd1');
  await rec.message('d1');
  // Offline for ten minutes, unless the network comes back.
  reader.client.reconnect({ afterMs: 600000 });
  assert.equal(reader.client.state, 'disconnected');
  await writer.client.publish(subject, 'd2');
  await writer.client.publish(subject, 'd3');
  online.dispatchEvent(new Event('online'));
  await rec.status('sync');
  assert.deepEqual(rec.data(), ['d1', 'd2', 'd3']);
  assert.deepEqual(
    rec.messages.map((m) => m.type),
    ['update', 'recovered', 'recovered'],
  );
  await reader.client.close();
  await writer.client.close();
});

test('messages the gateway sends again are dropped by seq', async () => {
  const subject = '/demo/dedupe';
  const token = issueToken(gateway, { jti: 'dedupe' });
  const reader = nodeClient({ servers: [gateway.url], token });
  const rec = new Recorder();
  reader.client.subscribe(subject, rec);
  await rec.status('subscribed');
  const first = await reader.client.publish(subject, 'x1');
  await reader.client.publish(subject, 'x2');
  await reader.client.publish(subject, 'x3');
  await rec.message('x3');
  // As a lagging gateway after a failover would: the gateway is asked (on the
  // client's own socket) to resume from x1, so it really sends x2 and x3 again.
  const resume = { [subject]: { epoch: first.epoch, seq: first.seq } };
  /** @type {any} */ (reader.client).socket.send(
    JSON.stringify({ op: 'subscribe', id: 999999, subjects: [subject], resume }),
  );
  await rec.status('sync');
  await reader.client.publish(subject, 'x4');
  await rec.message('x4');
  assert.deepEqual(rec.data(), ['x1', 'x2', 'x3', 'x4']);
  await reader.client.close();
});
