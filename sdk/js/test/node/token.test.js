// A token function refreshes the token on `token_expiring`, on the same connection.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Gateway, until } from '../support/gateway.js';
import { issueToken, jwtToml } from '../support/jwt.js';
import { Recorder, nodeClient } from '../support/recorder.js';

/** @type {Gateway} */
let gateway;
before(async () => {
  // token_expiring 2 s before exp.
  gateway = await Gateway.start({ toml: jwtToml({ extraGateway: 'token_expiry_notice_ms = 2000\n' }) });
});
after(async () => {
  await gateway.kill();
});

test('the token function is called again on token_expiring and the connection outlives the first token', async () => {
  let calls = 0;
  // The first token lives 3 s; the refresh an hour.
  const token = async () => issueToken(gateway, { jti: `refresh-${++calls}`, ttlS: calls === 1 ? 3 : 3600 });
  const { client, states, errors } = nodeClient({ servers: [gateway.url], token });
  /** @type {number[]} */
  const notices = [];
  client.on('tokenExpiring', (ms) => notices.push(ms));
  const rec = new Recorder();
  client.subscribe('/demo/token', rec);
  await rec.status('subscribed');
  const firstExpiry = Date.now() + 3000;
  await until(() => calls === 2, 'the refresh');
  // Past the first token's expiry (a close 4002 would have come by then).
  await new Promise((r) => setTimeout(r, Math.max(0, firstExpiry - Date.now()) + 1000));
  const ack = await client.publish('/demo/token', 'still here');
  const m = await rec.message('still here');
  assert.equal(m.seq, ack.seq);
  assert.equal(notices.length, 1);
  assert.deepEqual(states, ['connecting', 'connected']);
  assert.deepEqual(errors, []);
  await client.close();
});

test('a subject outside the token is forbidden, for that subject only', async () => {
  const { client, errors } = nodeClient({
    servers: [gateway.url],
    token: issueToken(gateway, { jti: 'narrow' }),
  });
  const denied = new Recorder();
  const allowed = new Recorder();
  client.subscribe('/chat/room', denied);
  client.subscribe('/demo/allowed', allowed);
  assert.equal((await denied.errorStatus('forbidden')).error, 'forbidden');
  await allowed.status('subscribed');
  await assert.rejects(client.publish('/chat/room', 'x'), { name: 'SluiceError', code: 'forbidden' });
  await client.publish('/demo/allowed', 'y');
  await allowed.message('y');
  assert.deepEqual(errors, []);
  await client.close();
});

test('a token the gateway refuses is reported and the client stops (a static token cannot get better)', async () => {
  const { client, errors, states } = nodeClient({ servers: [gateway.url], token: 'not-a-jwt' });
  const rec = new Recorder();
  client.subscribe('/demo/refused', rec);
  const pending = client.publish('/demo/refused', 'x');
  await assert.rejects(pending, { name: 'SluiceError' });
  await until(() => client.state === 'closed', 'closed');
  assert.equal(errors[0].code, 'unauthorized');
  assert.ok(errors.some((e) => e.closeCode === 4001));
  assert.equal(states.at(-1), 'closed');
});

test('request/reply: the reply reaches the requester through her own inbox, which no other token may read', async () => {
  const responder = nodeClient({
    servers: [gateway.url],
    token: issueToken(gateway, { user: 'bob', jti: 'rr-bob' }),
  });
  const requester = nodeClient({
    servers: [gateway.url],
    encoding: 'binary',
    token: issueToken(gateway, { user: 'ann', jti: 'rr-ann' }),
  });
  /** @type {string[]} */
  const replyTos = [];
  const served = new Recorder();
  responder.client.subscribe('/demo/echo', {
    headers: true,
    onStatus: served.onStatus,
    onMessage: (request) => {
      replyTos.push(String(request.headers?.reply_to));
      responder.client.reply(request, String(request.data).toUpperCase());
    },
  });
  await served.status('subscribed');

  const reply = await requester.client.request('/demo/echo', 'hello', { timeoutMs: 10000 });
  assert.equal(reply.data, 'HELLO');
  assert.match(replyTos[0], /^\/_inbox\/ann\/[0-9a-f]{16}$/);
  assert.equal(reply.subject, replyTos[0]);

  await assert.rejects(requester.client.request('/demo/nobody', 'hello?', { timeoutMs: 300 }), /timeout/);

  // Bob may not read ann's inbox.
  const snoop = new Recorder();
  responder.client.subscribe(replyTos[0], snoop);
  await until(() => snoop.statuses.some((s) => s?.error === 'forbidden'), 'the refusal');
  await requester.client.close();
  await responder.client.close();
});
