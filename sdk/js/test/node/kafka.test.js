// The SDK against a gateway on a real Kafka-protocol broker (tansu): request/reply
// between two apps, each message (the request, the reply) going through a Kafka
// topic, and a long history read back from Kafka.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Gateway, until } from '../support/gateway.js';
import { Recorder, nodeClient } from '../support/recorder.js';
import { Tansu } from '../support/tansu.js';

/** @type {Tansu} */
let tansu;
/** @type {Gateway} */
let gateway;
before(async () => {
  tansu = await Tansu.start();
  tansu.createTopic('demo', 2);
  tansu.createTopic('_inbox', 2);
  gateway = await Gateway.start({
    toml: [
      '[gateway]',
      'exposed_topics = ["demo", "_inbox"]',
      'message_cache_messages_per_subject_max = 16',
      '[broker]',
      'kind = "kafka"',
      '[broker.kafka]',
      `bootstrap_servers = "${tansu.bootstrap}"`,
      'metadata_refresh_ms = 500',
      '',
    ].join('\n'),
  });
});
after(async () => {
  await gateway?.kill();
  tansu?.kill();
});

test('request/reply through Kafka: the reply comes back on the requester’s inbox', async () => {
  const responder = nodeClient({ servers: [gateway.url], encoding: 'binary' });
  const requester = nodeClient({ servers: [gateway.url] });
  const served = new Recorder();
  responder.client.subscribe('/demo/kafka-echo', {
    ...served,
    headers: true,
    onMessage: (m) => {
      served.onMessage(m);
      responder.client.reply(m, String(m.data).toUpperCase());
    },
  });
  await served.status('subscribed');
  const reply = await requester.client.request('/demo/kafka-echo', 'through kafka', { timeoutMs: 60000 });
  assert.equal(reply.data, 'THROUGH KAFKA');
  assert.match(reply.subject, /^\/_inbox\//);
});

test('a history longer than the cache is read back from Kafka', async () => {
  const subject = '/demo/kafka-history';
  const { client: writer } = nodeClient({ servers: [gateway.url] });
  // History is what the gateway has read from Kafka when it answers the
  // subscribe: wait until it read the last record (an ack comes before that).
  const watcher = new Recorder();
  writer.subscribe(subject, watcher);
  await watcher.status('subscribed');
  for (let i = 0; i < 60; i++) await writer.publish(subject, `h${i}`);
  // tansu's own fetch latency under a busy machine: a guard, not a speed goal.
  await until(() => watcher.messages.some((m) => m.data === 'h59'), 'h59 read back', 120000);
  const { client } = nodeClient({ servers: [gateway.url], encoding: 'binary' });
  const rec = new Recorder();
  client.subscribe(subject, { ...rec, history: 50 });
  await until(() => rec.statuses.includes('history_complete'), 'history_complete', 120000);
  assert.deepEqual(
    rec.data(),
    Array.from({ length: 50 }, (_, i) => `h${i + 10}`),
  );
});
