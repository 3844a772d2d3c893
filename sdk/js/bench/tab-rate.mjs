// How many messages per second one browser tab with the demo page open receives.
//
//   node bench/tab-rate.mjs [--rates 1000,2000,5000,10000,20000] [--seconds 3] [--runs 3]
//
// Starts `sluice serve` ($SLUICE_BIN, default the debug build; use a release
// build for figures) with the publish rate limit off, opens the demo page in
// Chromium ($CHROMIUM_PATH), subscribes the page to /demo/bench through its form,
// then a raw WebSocket publisher (JSON frames, acks counted; lighter than the SDK's
// promise per publish, so the publisher is not what is measured) publishes at each
// offered rate for --seconds. The page's own
// counter (window.sluiceDemo.received) is read until every message arrived or it
// stopped growing for 3 s. A benchmark, not a test: it prints, it asserts nothing.
import WebSocket from 'ws';
import { Gateway } from '../test/support/gateway.js';
import { launchChromium, openDemoSubscribed } from '../test/support/browser.js';

const args = process.argv.slice(2);
/** @param {string} name @param {string} fallback */
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rates = arg('rates', '1000,2000,5000,10000,20000').split(',').map(Number);
const seconds = Number(arg('seconds', '3'));
const runs = Number(arg('runs', '3'));
const payload = 'x'.repeat(64);

const gateway = await Gateway.start({
  toml: '[gateway]\nexposed_topics = ["demo"]\npublish_rate_per_s = 0\npublishes_in_flight_per_client_max = 100000\n',
});
const browser = await launchChromium();
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
try {
  const page = await browser.context.newPage();
  await openDemoSubscribed(page, gateway.httpUrl, '/demo/bench');
  const received = () => page.evaluate(() => /** @type {any} */ (window).sluiceDemo.received);

  const publisher = new WebSocket(gateway.url, ['sluice.v1.json']);
  let acked = 0;
  let nextId = 1;
  publisher.on('message', (data) => {
    if (String(data).includes('"op":"ack"')) acked += 1;
  });
  await new Promise((r, j) => publisher.once('open', r).once('error', j));
  /** @param {number} n */
  const publish = (n) => {
    for (let i = 0; i < n; i++) {
      publisher.send(`{"op":"publish","id":${nextId++},"subject":"/demo/bench","data":"${payload}"}`);
    }
  };
  publish(1);
  await sleep(500);

  console.log(
    `gateway ${gateway.url} (${process.env.SLUICE_BIN ?? 'debug build'}), ${seconds} s per rate, ${payload.length}-byte payloads`,
  );
  console.log('offered/s  published/s  received/s  delivered  run');
  for (const rate of rates) {
    for (let run = 1; run <= runs; run++) {
      const start = await received();
      const total = rate * seconds;
      const t0 = performance.now();
      const ackedBefore = acked;
      // Publish in 10 ms slices, on schedule.
      for (let sent = 0; sent < total;) {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
        publish(due - sent);
        sent = due;
        await sleep(10);
      }
      while (acked - ackedBefore < total) await sleep(5);
      const published = performance.now();
      // Until all arrived, or no progress for 3 s.
      let last = await received();
      let lastChange = performance.now();
      let lastArrival = lastChange;
      while (last - start < total && performance.now() - lastChange < 3000) {
        await sleep(50);
        const now = await received();
        if (now !== last) {
          last = now;
          lastChange = lastArrival = performance.now();
        }
      }
      const got = last - start;
      const pubRate = total / ((published - t0) / 1000);
      const recvRate = got / ((lastArrival - t0) / 1000);
      console.log(
        `${String(rate).padStart(9)}  ${pubRate.toFixed(0).padStart(11)}  ${recvRate.toFixed(0).padStart(10)}  ${String(got).padStart(6)}/${total}  ${run}`,
      );
      await sleep(300);
    }
  }
  publisher.close();
} finally {
  await browser.close();
  await gateway.kill();
}
