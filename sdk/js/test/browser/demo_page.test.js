// The demo page in real Chromium, served by a real gateway, using only the SDK:
// it subscribes, receives what `sluice pub` publishes, and after its "drop
// connection" button it receives the missed messages as `recovered`, then `sync`.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Gateway } from '../support/gateway.js';
import { OUTPUT_DIR, launchChromium, openDemoSubscribed } from '../support/browser.js';

/** @type {Gateway} */
let gateway;
/** @type {Awaited<ReturnType<typeof launchChromium>>} */
let browser;
before(async () => {
  gateway = await Gateway.start();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await gateway?.kill();
});

for (const encoding of ['json', 'binary']) {
  test(`${encoding}: the demo page shows live messages and resumes with no gap after a dropped connection`, async () => {
    const subject = `/demo/browser-${encoding}`;
    const page = await browser.context.newPage();
    /** @type {string[]} */
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    try {
      await openDemoSubscribed(page, gateway.httpUrl, subject, `encoding=${encoding}`);

      const live = gateway.pub(subject, 'live 1');
      const liveRow = page.locator('#log tr[data-type="update"]', { hasText: 'live 1' });
      await liveRow.waitFor();
      assert.equal(await liveRow.getAttribute('data-seq'), String(live.seq));

      await page.click('#drop');
      await page.getByTestId('state').filter({ hasText: 'disconnected' }).waitFor();
      const missed = ['missed 1', 'missed 2', 'missed 3'].map((data) => gateway.pub(subject, data));
      await page.locator('#log tr[data-status="sync"]').waitFor({ timeout: 20000 });
      await page
        .getByTestId('state')
        .filter({ hasText: /^connected$/ })
        .waitFor();
      const after = gateway.pub(subject, 'after');
      await page.locator('#log tr[data-type="update"]', { hasText: 'after' }).waitFor();

      /** @type {any[]} */
      const events = await page.evaluate(() => /** @type {any} */ (window).sluiceDemo.events);
      const mine = events.filter((e) => e.subject === subject);
      assert.deepEqual(
        mine.map((e) => e.status ?? `${e.type}:${e.data}:${e.seq}`),
        [
          `update:live 1:${live.seq}`,
          ...missed.map((ack, i) => `recovered:missed ${i + 1}:${ack.seq}`),
          'sync',
          `update:after:${after.seq}`,
        ],
      );
      await page.screenshot({ path: join(OUTPUT_DIR, `demo-page-${encoding}.png`), fullPage: true });
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
}

test('messages the gateway sends again do not show twice on the page', async () => {
  const subject = '/demo/browser-dedupe';
  const page = await browser.context.newPage();
  try {
    await openDemoSubscribed(page, gateway.httpUrl, subject);
    const first = gateway.pub(subject, 'd1');
    const second = gateway.pub(subject, 'd2');
    // By seq: a row's text also holds its epoch, which may contain "d2".
    await page.locator(`#log tr[data-seq="${second.seq}"]`).waitFor();
    // The gateway is asked, on the page's own socket, to resume from d1, as a
    // lagging gateway would: it really sends d2 again, then sync.
    await page.evaluate(
      ([subject, epoch, seq]) => {
        const resume = { [subject]: { epoch, seq } };
        /** @type {any} */ (window).sluiceDemo.client.socket.send(
          JSON.stringify({ op: 'subscribe', id: 999999, subjects: [subject], resume }),
        );
      },
      [subject, first.epoch, first.seq],
    );
    await page.locator('#log tr[data-status="sync"]').waitFor();
    const third = gateway.pub(subject, 'd3');
    await page.locator(`#log tr[data-seq="${third.seq}"]`).waitFor();
    /** @type {any[]} */
    const events = await page.evaluate(() => /** @type {any} */ (window).sluiceDemo.events);
    assert.deepEqual(
      events.filter((e) => e.subject === subject).map((e) => e.status ?? e.data),
      ['d1', 'd2', 'sync', 'd3'],
    );
  } finally {
    await page.close();
  }
});

test("the browser's online event ends the wait for a reconnect at once", async () => {
  const page = await browser.context.newPage();
  try {
    await page.goto(`${gateway.httpUrl}/?subscribe=none`);
    const state = page.getByTestId('state');
    await state.filter({ hasText: /^connected$/ }).waitFor();
    // Offline for ten minutes, as far as the backoff knows.
    await page.evaluate(() => /** @type {any} */ (window).sluiceDemo.client.reconnect({ afterMs: 600000 }));
    await state.filter({ hasText: 'disconnected' }).waitFor();
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    await state.filter({ hasText: /^connected$/ }).waitFor({ timeout: 10000 });
  } finally {
    await page.close();
  }
});

test("a page of another origin imports the SDK from the gateway (the README's example)", async () => {
  const gatewayWs = gateway.url;
  const page = `<!doctype html><script type="module">
    import { Client } from '${gateway.httpUrl}/sdk/sluice.js';
    const client = new Client({ servers: ['${gatewayWs}'] });
    client.subscribe('/demo/elsewhere', {
      onMessage: (m) => (document.title = m.type + ':' + m.data),
    });
    await client.publish('/demo/elsewhere', 'hello from elsewhere');
  </script>`;
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  const tab = await browser.context.newPage();
  try {
    // localhost is another origin than the gateway's 127.0.0.1.
    await tab.goto(`http://localhost:${port}/`);
    await tab.waitForFunction(() => document.title === 'update:hello from elsewhere');
  } finally {
    await tab.close();
    server.close();
  }
});

test('the demo page reports bad input clearly', async () => {
  const page = await browser.context.newPage();
  try {
    await page.goto(`${gateway.httpUrl}/?subscribe=none`);
    await page
      .getByTestId('state')
      .filter({ hasText: /^connected$/ })
      .waitFor();
    await page.fill('#sub-subject', 'no-slash');
    await page.click('#subscribe');
    assert.match(
      await page.locator('#sub-error').innerText(),
      /invalid_subject: a subject must start with '\/'/,
    );
    await page.fill('#pub-subject', '/secret/x');
    await page.click('#publish');
    await page.locator('#pub-result', { hasText: 'not_exposed' }).waitFor();
  } finally {
    await page.close();
  }
});

test('Chromium negotiates permessage-deflate, and large messages go compressed both ways', async () => {
  const subject = '/demo/browser-deflate';
  const page = await browser.context.newPage();
  try {
    await openDemoSubscribed(page, gateway.httpUrl, subject);
    const extensions = await page.evaluate(
      () => /** @type {any} */ (window).sluiceDemo.client.socket.extensions,
    );
    assert.match(extensions, /^permessage-deflate/);
    // A 6 KB value published by the page (Chromium compresses what it sends)
    // comes back through the gateway (which compresses what it sends).
    const value = JSON.stringify({ rows: Array.from({ length: 120 }, (_, i) => ({ row: i, v: 'steady' })) });
    const ack = await page.evaluate(
      ([subject, value]) => /** @type {any} */ (window).sluiceDemo.client.publish(subject, value),
      [subject, value],
    );
    await page.waitForFunction(
      ([subject, seq]) =>
        /** @type {any} */ (window).sluiceDemo.events.some(
          (/** @type {any} */ e) => e.subject === subject && e.seq === seq,
        ),
      [subject, ack.seq],
    );
    /** @type {any[]} */
    const events = await page.evaluate(() => /** @type {any} */ (window).sluiceDemo.events);
    const got = events.find((e) => e.subject === subject && e.seq === ack.seq);
    assert.equal(got.data, value);
  } finally {
    await page.close();
  }
});
