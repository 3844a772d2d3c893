// A topic stopped through the Portal ends its subscriptions: the gateway sends an
// `error` `not_exposed` with the subject and no id, and the SDK reports it to that
// subscription's onStatus, forgets it (no resume of it after a reconnect), and
// leaves the client's other subscriptions alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Gateway } from '../support/gateway.js';
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
 * @param {'PUT' | 'DELETE'} method
 * @param {string} topic
 */
async function portal(method, topic) {
  const answer = await fetch(`${gateway.adminUrl}/api/v1/topics/${topic}`, { method });
  assert.ok(answer.ok, `${method} ${topic}: ${answer.status} ${await answer.text()}`);
}

test('a topic stopped through the Portal ends its subscriptions with not_exposed, and only those', async () => {
  assert.ok(gateway.adminUrl, 'the gateway printed its admin URL');
  await portal('PUT', 'news');
  const { client } = nodeClient({ servers: [gateway.url] });
  /** @type {any[]} */
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const news = new Recorder();
  const demo = new Recorder();
  client.subscribe('/news/x', news);
  client.subscribe('/demo/x', demo);
  await news.status('subscribed');
  await demo.status('subscribed');

  await portal('DELETE', 'news');
  const ended = await news.errorStatus('not_exposed');
  assert.match(ended.message, /./);
  assert.deepEqual(errors, [], 'an ended subscription is a status, not a client error');

  // The other subscription goes on, on the same connection.
  const ack = await client.publish('/demo/x', 'still here');
  const update = await demo.message('still here');
  assert.equal(update.seq, ack.seq);
  // And the ended one is gone: publishing to it is refused.
  await assert.rejects(client.publish('/news/x', 'nobody'), { code: 'not_exposed' });
  await client.close();
});
