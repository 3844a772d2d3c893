// The everyday API against a real gateway: snapshot then live, publish acks, unsubscribe, history,
// and record headers (protocol 1.1).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Positions } from '../../src/positions.js';
import { Gateway, until } from '../support/gateway.js';
import { Recorder, nodeClient } from '../support/recorder.js';

/** @type {Gateway} */
let gateway;
before(async () => {
  gateway = await Gateway.start();
});
after(async () => {
  await gateway.kill();
});

for (const encoding of ['json', 'binary']) {
  test(`${encoding}: snapshot first, then live updates whose seq and epoch equal the publish acks`, async () => {
    const subject = `/demo/basics-${encoding}`;
    const before = gateway.pub(subject, 'before');
    const { client, states } = nodeClient({ servers: [gateway.url], encoding });
    const rec = new Recorder();
    client.subscribe(subject, rec);
    await rec.status('subscribed');
    const snapshot = await rec.message('before');
    assert.deepEqual(snapshot, {
      subject,
      data: 'before',
      seq: before.seq,
      epoch: before.epoch,
      type: 'snapshot',
    });

    const ack = await client.publish(subject, 'live one');
    const update = await rec.message('live one');
    assert.deepEqual(update, { subject, data: 'live one', seq: ack.seq, epoch: ack.epoch, type: 'update' });

    const bytes = new Uint8Array([0, 255, 1, 128]);
    const binAck = await client.publish(subject, bytes);
    await until(() => rec.messages.length === 3, 'the bytes');
    assert.deepEqual(rec.messages[2].data, bytes);
    assert.equal(rec.messages[2].seq, binAck.seq);
    assert.deepEqual(rec.data().slice(0, 2), ['before', 'live one']);
    assert.deepEqual(states, ['connecting', 'connected']);
    await client.close();
    assert.deepEqual(states, ['connecting', 'connected', 'closed']);
  });
}

test('after unsubscribe no message of the subject arrives; other subscriptions go on', async () => {
  const { client } = nodeClient({ servers: [gateway.url] });
  const gone = new Recorder();
  const kept = new Recorder();
  const sub = client.subscribe('/demo/unsub-a', gone);
  client.subscribe('/demo/unsub-b', kept);
  await gone.status('subscribed');
  await kept.status('subscribed');
  await client.publish('/demo/unsub-a', 'a1');
  await gone.message('a1');
  sub.unsubscribe();
  await client.publish('/demo/unsub-a', 'a2');
  await client.publish('/demo/unsub-b', 'b1');
  await kept.message('b1');
  // b1 was published after a2 on the same connection and arrived: a2 would have too.
  assert.deepEqual(gone.data(), ['a1']);
  await client.close();
});

test('history gives past messages, oldest first, instead of the snapshot', async () => {
  const subject = '/demo/history';
  for (const n of [1, 2, 3, 4]) gateway.pub(subject, `h${n}`);
  const { client } = nodeClient({ servers: [gateway.url] });
  const rec = new Recorder();
  client.subscribe(subject, { ...rec, history: 3 });
  await rec.message('h4');
  assert.deepEqual(rec.data(), ['h2', 'h3', 'h4']);
  assert.deepEqual(
    rec.messages.map((m) => m.type),
    ['history', 'history', 'history'],
  );
  await client.publish(subject, 'h5');
  await rec.message('h5');
  assert.equal(rec.messages[3].type, 'update');
  await client.close();
});

for (const encoding of ['json', 'binary']) {
  test(`${encoding}: a history longer than the cache (500 of a cache of 128) comes from the log, complete`, async () => {
    const subject = `/demo/long-history-${encoding}`;
    const { client: writer } = nodeClient({ servers: [gateway.url], encoding });
    const acks = [];
    for (let i = 0; i < 520; i++) acks.push(writer.publish(subject, `v${i}`));
    await Promise.all(acks);
    const { client } = nodeClient({ servers: [gateway.url], encoding });
    const rec = new Recorder();
    client.subscribe(subject, { ...rec, history: 500 });
    await rec.status('history_complete');
    const expected = Array.from({ length: 500 }, (_, i) => `v${i + 20}`);
    assert.deepEqual(rec.data(), expected);
    assert.ok(rec.messages.every((m) => m.type === 'history'));
    const seqs = rec.messages.map((m) => m.seq);
    assert.ok(
      seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]),
      'seqs increase',
    );
    // The end marker comes after the history and before live updates.
    await writer.publish(subject, 'live');
    await rec.message('live');
    const end = rec.events.findIndex((e) => e.status === 'history_complete');
    const live = rec.events.findIndex((e) => e.data === 'live');
    assert.equal(rec.messages.at(-1)?.type, 'update');
    assert.ok(end === 1 + 500 && live > end, `end marker at ${end}, live at ${live}`);
    await writer.close();
    await client.close();
  });
}

test('the gateway serves the SDK modules as JavaScript and the demo page', async () => {
  const sdk = await fetch(`${gateway.httpUrl}/sdk/sluice.js`);
  assert.equal(sdk.status, 200);
  assert.match(sdk.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.equal(sdk.headers.get('access-control-allow-origin'), '*');
  assert.match(await sdk.text(), /export \{ Client/);
  const protocol = await fetch(`${gateway.httpUrl}/sdk/protocol.js`);
  assert.equal(protocol.status, 200);
  const page = await fetch(`${gateway.httpUrl}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal((await fetch(`${gateway.httpUrl}/nope`)).status, 404);
  assert.equal((await fetch(`${gateway.httpUrl}/sdk/nope.js`)).status, 404);
  assert.equal((await fetch(`${gateway.httpUrl}/`, { method: 'POST', body: 'x' })).status, 405);
});

test('with demo_page = false the page is gone and the SDK stays', async () => {
  const quiet = await Gateway.start({
    toml: '[gateway]\nexposed_topics = ["demo"]\n[websocket]\ndemo_page = false\n',
  });
  try {
    assert.equal((await fetch(`${quiet.httpUrl}/`)).status, 404);
    assert.equal((await fetch(`${quiet.httpUrl}/sdk/sluice.js`)).status, 200);
  } finally {
    await quiet.kill();
  }
});

// Protocol 1.1 record headers: a subscription with `headers: true` gets each
// message's Kafka record headers (here the gateway's own, from a publish with
// `replyTo` and `traceparent`); one without gets exactly the v1 message.
for (const encoding of ['json', 'binary']) {
  test(`${encoding}: headers reach the subscription that asked, and only it`, async () => {
    const subject = `/demo/headers-${encoding}`;
    const { client } = nodeClient({ servers: [gateway.url], encoding });
    const withHeaders = new Recorder();
    const plain = nodeClient({ servers: [gateway.url], encoding });
    const without = new Recorder();
    client.subscribe(subject, { ...withHeaders, headers: true });
    plain.client.subscribe(subject, without);
    await withHeaders.status('subscribed');
    await without.status('subscribed');

    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const ack = await client.publish(subject, 'asked', {
      replyTo: '/demo/inbox-7',
      traceparent,
      qos: 'guaranteed',
    });
    const message = await withHeaders.message('asked');
    assert.equal(message.seq, ack.seq);
    assert.deepEqual(message.headers, {
      retained: 'true',
      qos: 'guaranteed',
      reply_to: '/demo/inbox-7',
      traceparent,
    });
    assert.equal(message.headersTruncated, undefined);
    const v1 = await without.message('asked');
    assert.deepEqual(v1, { subject, data: 'asked', seq: ack.seq, epoch: ack.epoch, type: 'update' });

    // A late subscriber with headers gets them on the snapshot too.
    const late = new Recorder();
    client.subscribe(`${subject}`, { ...late, headers: true });
    const snapshot = await late.message('asked');
    assert.equal(snapshot.type, 'snapshot');
    assert.equal(snapshot.headers?.reply_to, '/demo/inbox-7');
    await client.close();
    await plain.client.close();
  });
}

test('headers must be a boolean', () => {
  const { client } = nodeClient({ servers: [gateway.url] });
  assert.throws(
    // @ts-expect-error: a string where a boolean belongs
    () => client.subscribe('/demo/x', { headers: 'yes' }),
    /headers is a boolean/,
  );
  return client.close();
});

test('a reconnect restores each kind of subscription (headers, conflation, deltas) in its own request, from its position', () => {
  const positions = new Positions();
  positions.subscribe('/t/a', {});
  positions.subscribe('/t/b', { headers: true });
  positions.subscribe('/t/c', { history: 3, headers: true });
  positions.subscribe('/t/d', { conflateMs: 500 });
  positions.subscribe('/t/e', { delta: true });
  positions.accept('/t/a', 'e', 5);
  positions.accept('/t/b', 'e', 9);
  positions.accept('/t/d', 'e', 2);
  positions.accept('/t/e', 'e', 4);
  assert.deepEqual(positions.restoreRequests(), [
    {
      subjects: ['/t/a'],
      history: undefined,
      resume: { '/t/a': { epoch: 'e', seq: 5 } },
      headers: false,
      conflateMs: undefined,
      delta: false,
    },
    {
      subjects: ['/t/b'],
      history: undefined,
      resume: { '/t/b': { epoch: 'e', seq: 9 } },
      headers: true,
      conflateMs: undefined,
      delta: false,
    },
    { subjects: ['/t/c'], history: 3, resume: {}, headers: true, conflateMs: undefined, delta: false },
    {
      subjects: ['/t/d'],
      history: undefined,
      resume: { '/t/d': { epoch: 'e', seq: 2 } },
      headers: false,
      conflateMs: 500,
      delta: false,
    },
    {
      subjects: ['/t/e'],
      history: undefined,
      resume: { '/t/e': { epoch: 'e', seq: 4 } },
      headers: false,
      conflateMs: undefined,
      delta: true,
    },
  ]);
});

test('request/reply without auth: the reply comes back on an anonymous inbox', async () => {
  const responder = nodeClient({ servers: [gateway.url], encoding: 'binary' });
  const requester = nodeClient({ servers: [gateway.url] });
  const served = new Recorder();
  responder.client.subscribe('/demo/rr-echo', {
    headers: true,
    onStatus: served.onStatus,
    onMessage: (request) => responder.client.reply(request, `re: ${request.data}`),
  });
  await served.status('subscribed');
  const reply = await requester.client.request('/demo/rr-echo', 'ping');
  assert.equal(reply.data, 're: ping');
  assert.match(reply.subject, /^\/_inbox\/anon\/[0-9a-f]{16}$/);
  await assert.rejects(requester.client.reply(reply, 'no reply_to'), /invalid_argument/);
  await requester.client.close();
  await responder.client.close();
});

for (const encoding of ['json', 'binary']) {
  test(`${encoding}: a conflated subscription gets a burst as a few messages ending with the final value`, async () => {
    const subject = `/demo/conflated-${encoding}`;
    const { client } = nodeClient({ servers: [gateway.url], encoding });
    const rec = new Recorder();
    client.subscribe(subject, { ...rec, conflateMs: 300 });
    await rec.status('subscribed');
    for (let i = 0; i < 20; i++) await client.publish(subject, `p${i}`);
    await rec.message('p19');
    assert.ok(rec.messages.length < 20, `conflated: ${rec.data().join(' ')}`);
    assert.equal(rec.messages.at(-1)?.data, 'p19');
    assert.throws(() => client.subscribe('/demo/x', { conflateMs: 50 }), /conflateMs/);
    await client.close();
  });
}
