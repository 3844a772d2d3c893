// Protocol 1.1 deltas: the SDK rebuilds every value of a delta subscription exactly,
// over both encodings; a raw WebSocket client sees the deltas on the wire and
// rebuilds them with an independent fossil-delta library (the one Centrifugo's
// clients use); and the SDK's decoder agrees with that library's encoder.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { applyDelta as theirApply, createDelta } from 'fossil-delta';
import { applyDelta } from '../../src/fossil_delta.js';
import { Gateway, until } from '../support/gateway.js';
import { Recorder, nodeClient } from '../support/recorder.js';

const encoder = new TextEncoder();

/**
 * A JSON value of about 2 KB; `i` changes one field of it.
 * @param {number} i
 */
function value(i) {
  /** @type {Record<string, unknown>} */
  const fields = { version: i, price: 100 + (i % 7) };
  for (let f = 0; f < 40; f++) fields[`field_${f}`] = `a steady value of field ${f}, the same every time`;
  return JSON.stringify(fields);
}

/** @type {Gateway} */
let gateway;
before(async () => {
  gateway = await Gateway.start();
});
after(async () => {
  await gateway.kill();
});

// applyDelta checks each delta's checksum: a wrong `checksum` fails here.
test('the decoder applies deltas made by an independent fossil-delta encoder', () => {
  for (let i = 1; i < 50; i++) {
    const base = encoder.encode(value(i - 1));
    const next = encoder.encode(value(i * 13));
    const delta = createDelta(base, next);
    assert.ok(delta.length < next.length / 4, `delta ${delta.length} of ${next.length}`);
    assert.deepEqual(applyDelta(base, Uint8Array.from(delta)), next);
  }
});

test('malformed deltas throw, and nothing else happens', () => {
  const base = encoder.encode('0123456789');
  for (const bad of ['', 'A', 'A\n5@0,', 'A\nZ@0,', '3\n9:abc', '3\n3:abc0;', '3\n3:abcd;', '~~~~~~~~~~\n']) {
    assert.throws(() => applyDelta(base, encoder.encode(bad)), /delta/, JSON.stringify(bad));
  }
});

for (const encoding of ['json', 'binary']) {
  test(`${encoding}: a delta subscriber rebuilds every value of a 2 KB JSON exactly`, async () => {
    const subject = `/demo/delta-${encoding}`;
    const { client: writer } = nodeClient({ servers: [gateway.url], encoding });
    await writer.publish(subject, value(0));
    const { client, errors } = nodeClient({ servers: [gateway.url], encoding });
    const rec = new Recorder();
    client.subscribe(subject, { ...rec, delta: true });
    await rec.message(value(0));
    const sent = [value(0)];
    for (let i = 1; i <= 30; i++) {
      sent.push(value(i));
      await writer.publish(subject, value(i));
    }
    await rec.message(value(30));
    assert.deepEqual(rec.data(), sent);
    assert.deepEqual(errors, []);
  });
}

test('on the wire: deltas come marked, smaller, and an independent library rebuilds them', async () => {
  const subject = '/demo/delta-wire';
  const { client: writer } = nodeClient({ servers: [gateway.url] });
  await writer.publish(subject, value(0));
  const ws = new WebSocket(gateway.url, 'sluice.v1.json');
  /** @type {any[]} */
  const frames = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ op: 'subscribe', id: 1, subjects: [subject], delta: true }));
  await until(() => frames.some((f) => f.op === 'message'), 'the snapshot');
  for (let i = 1; i <= 10; i++) await writer.publish(subject, value(i));
  await until(() => frames.filter((f) => f.op === 'message').length === 11, 'ten updates');
  const messages = frames.filter((f) => f.op === 'message');
  assert.equal(messages[0].delta, undefined, 'the first value goes whole');
  let current = encoder.encode(messages[0].data);
  for (const [i, m] of messages.slice(1).entries()) {
    assert.equal(m.delta, true, `update ${i + 1} is a delta`);
    const bytes = m.b64 ? Buffer.from(m.data, 'base64') : encoder.encode(m.data);
    assert.ok(bytes.length < 200, `a delta of ${bytes.length} bytes`);
    current = Uint8Array.from(theirApply(current, bytes));
    assert.equal(new TextDecoder().decode(current), value(i + 1));
  }
  ws.close();
});
