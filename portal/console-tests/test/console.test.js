/**
 * The Portal's console in Debian's Chromium against a real `sluice serve`: expose a
 * topic from the page and see it listed, tail a subject live and publish to it from
 * the page (through the JavaScript SDK the gateway serves), browse its subjects,
 * stop the topic and see the tail told; with the admin token and client auth on,
 * sign in, tail and publish with a token the console issues itself, and issue a
 * token from the form. Screenshots go to test-output/.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { launchChromium, screenshot } from '../support/browser.js';
import { Gateway } from '../support/gateway.js';

const ADMIN_TOKEN = 'console-admin-token-0123456789';

/** @param {string} dir */
const memoryConfig = (dir) =>
  `[gateway]\nexposed_topics = ["demo"]\n\n[portal]\ndata_dir = ${JSON.stringify(dir)}\nstats_interval_ms = 250\n`;

test('expose a topic, tail it, publish to it, browse it and stop it, all from the page', async () => {
  const gateway = await Gateway.start(memoryConfig);
  const browser = await launchChromium();
  const { page } = browser;
  try {
    await page.goto(`${gateway.adminUrl}/#topics`);
    await page.locator('#topics-table tr[data-topic="demo"]').waitFor();
    assert.equal(await page.locator('#topics-table tr[data-topic="news"]').count(), 0);

    await page.fill('#expose-name', 'news');
    await page.click('#expose-btn');
    const news = page.locator('#topics-table tr[data-topic="news"]');
    await news.locator('.pill', { hasText: 'ready' }).waitFor();
    await screenshot(page, 'console-topics');

    await page.click('nav a[data-tab="live"]');
    await page.fill('#tail-subject', '/news/greeting');
    await page.click('#tail-start');
    const tail = page.locator('#tails li[data-subject="/news/greeting"]');
    await tail.locator('.pill', { hasText: 'subscribed' }).waitFor();
    await page.locator('#tail-conn', { hasText: 'connected' }).waitFor();

    await page.fill('#pub-subject', '/news/greeting');
    await page.fill('#pub-data', 'hello from the console');
    await page.click('#pub-send');
    await page.locator('#pub-result', { hasText: 'acknowledged' }).waitFor();
    const row = page.locator('#tail-log tbody tr', { hasText: 'hello from the console' });
    await row.waitFor();
    assert.match(await row.innerText(), /\/news\/greeting\s+update\s+\d+\s+hello from the console/);
    await screenshot(page, 'console-live-tail');

    await page.click('nav a[data-tab="topics"]');
    await news.locator('button.browse').click();
    const subject = page.locator('#subjects-table tr[data-subject="/news/greeting"]');
    await subject.waitFor();
    assert.match(await subject.innerText(), /hello from the console/);
    assert.match(await subject.innerText(), /\b1\b/, 'one subscriber: the console');
    await screenshot(page, 'console-subjects');

    await page.click('nav a[data-tab="overview"]');
    await page.locator('#tile-publishes-total', { hasText: '1 since start' }).waitFor();
    await page.locator('#chart-connections path.line').waitFor();
    await screenshot(page, 'console-overview');

    await page.click('nav a[data-tab="broker"]');
    await page.locator('#broker-facts dd', { hasText: 'memory' }).waitFor();
    await page.locator('#broker-table td', { hasText: 'news' }).waitFor();
    await screenshot(page, 'console-broker');

    // Stopping the topic from the page tells the console's own tail.
    await page.click('nav a[data-tab="topics"]');
    await news.locator('button.unexpose').click();
    await news.waitFor({ state: 'detached' });
    await page.click('nav a[data-tab="live"]');
    await tail.locator('.pill', { hasText: 'not_exposed' }).waitFor();
    await screenshot(page, 'console-stopped');
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
    await gateway.stop();
  }
});

test('with the admin token and client auth on: sign in, tail and publish with a token the console issues, issue a token', async () => {
  const gateway = await Gateway.start(
    (dir) =>
      memoryConfig(dir) +
      `\n[admin]\ntoken = "${ADMIN_TOKEN}"\n\n[auth]\nmode = "jwt"\n\n[[auth.keys]]\nkid = "k1"\nalgorithm = "HS256"\nsecret = "a secret of at least thirty-two bytes!"\n`,
  );
  const browser = await launchChromium();
  const { page } = browser;
  try {
    await page.goto(`${gateway.adminUrl}/#live`);
    await page.locator('#login').waitFor();
    await screenshot(page, 'console-sign-in');
    await page.fill('#admin-token', 'wrong-token-0123456789');
    await page.click('#admin-token-save');
    await page.locator('#notice', { hasText: 'unauthorized' }).waitFor();
    await page.fill('#admin-token', ADMIN_TOKEN);
    await page.click('#admin-token-save');
    await page.locator('#login').waitFor({ state: 'hidden' });
    await page.locator('#fact-auth', { hasText: 'jwt' }).waitFor();

    await page.fill('#tail-subject', '/demo/secure');
    await page.click('#tail-start');
    await page.locator('#tails li[data-subject="/demo/secure"] .pill', { hasText: 'subscribed' }).waitFor();
    await page.fill('#pub-subject', '/demo/secure');
    await page.fill('#pub-data', 'signed and delivered');
    await page.click('#pub-send');
    await page.locator('#tail-log tbody tr', { hasText: 'signed and delivered' }).waitFor();

    await page.click('nav a[data-tab="tokens"]');
    await page.fill('#token-user', 'ann');
    await page.fill('#token-sub', '/demo/ann/>');
    await page.click('#token-issue');
    const output = page.locator('#token-output');
    await output.waitFor();
    const token = await output.inputValue();
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, 'ann');
    assert.deepEqual(claims.permissions.sub, ['/demo/ann/>']);
    await screenshot(page, 'console-tokens');
    // The one error the page saw was the refused sign-in (a 401 the browser logs).
    assert.ok(
      browser.errors.every((e) => e.includes('401')),
      browser.errors.join('\n'),
    );
  } finally {
    await browser.close();
    await gateway.stop();
  }
});
