// Bytes on the wire and the gateway's CPU cost of protocol 1.1 compression:
// permessage-deflate, fossil deltas, both, against plain frames. A benchmark, not a
// test: it prints, it asserts nothing.
//
//   node bench/compression.mjs [--updates 200] [--subscribers 200] [--subjects 20]
//                              [--rate 1000] [--seconds 5] [--rounds 2]
//
// Starts `sluice serve` ($SLUICE_BIN, default the debug build; use a release build
// for figures), pins it to CPU 0 and this process to CPU 1 when `taskset` exists,
// and measures with raw `ws` clients, an implementation independent of the SDK:
// 1. bytes: one client per mode and encoding subscribes to one subject; a 2 KB JSON
//    value with one field changed each time is published --updates times; the
//    bytes each client's socket read are compared (frame headers included);
// 2. cost: per mode, --subscribers clients over --subjects subjects, --rate values
//    published per second for --seconds; the gateway's CPU time per delivery.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { applyDelta } from 'fossil-delta';
import { Gateway } from '../test/support/gateway.js';

const args = process.argv.slice(2);
/** @param {string} name @param {string} fallback */
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const updates = Number(arg('updates', '200'));
const subscribers = Number(arg('subscribers', '200'));
const subjects = Number(arg('subjects', '20'));
const rate = Number(arg('rate', '1000'));
const seconds = Number(arg('seconds', '5'));
const rounds = Number(arg('rounds', '2'));

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

const MODES = [
  { name: 'full', deflate: false, delta: false },
  { name: 'deflate', deflate: true, delta: false },
  { name: 'delta', deflate: false, delta: true },
  { name: 'delta + deflate', deflate: true, delta: true },
];
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
/** @param {number} pid */
const cpuSeconds = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
/** @param {number} pid @param {string} cpu */
const pin = (pid, cpu) => {
  try {
    execFileSync('taskset', ['-cp', cpu, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/**
 * A raw subscriber: counts messages, rebuilds deltas to check them.
 * @param {string} url
 * @param {{ deflate: boolean, delta: boolean }} mode
 * @param {string} encoding
 * @param {string[]} subs
 */
async function subscriber(url, mode, encoding, subs) {
  const ws = new WebSocket(url, encoding === 'json' ? 'sluice.v1.json' : 'sluice.v1.bin', {
    perMessageDeflate: mode.deflate,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const state = {
    ws,
    messages: 0,
    ok: false,
    wrong: 0,
    last: /** @type {Map<string, Uint8Array>} */ (new Map()),
  };
  ws.on('message', (data) => {
    if (encoding !== 'json') {
      // Binary: op byte 0x83 is a message; 0x81 ok.
      const bytes = /** @type {Buffer} */ (data);
      if (bytes[0] === 0x81) state.ok = true;
      if (bytes[0] === 0x83) state.messages++;
      return;
    }
    const frame = JSON.parse(data.toString());
    if (frame.op === 'ok') state.ok = true;
    if (frame.op !== 'message') return;
    state.messages++;
    const bytes = frame.b64 ? Buffer.from(frame.data, 'base64') : Buffer.from(frame.data);
    const whole = frame.delta
      ? Buffer.from(applyDelta(state.last.get(frame.subject) ?? Buffer.alloc(0), bytes))
      : bytes;
    state.last.set(frame.subject, whole);
  });
  const request = { op: 'subscribe', id: 1, subjects: subs, ...(mode.delta ? { delta: true } : {}) };
  if (encoding === 'json') {
    ws.send(JSON.stringify(request));
  } else {
    // 0x01 subscribe: id u64, flags (16 = deltas), n u16, n × (str, resume 0).
    const parts = [Buffer.from([0x01]), Buffer.alloc(8), Buffer.from([mode.delta ? 16 : 0])];
    parts[1].writeBigUInt64BE(1n);
    const n = Buffer.alloc(2);
    n.writeUInt16BE(subs.length);
    parts.push(n);
    for (const s of subs) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(Buffer.byteLength(s));
      parts.push(len, Buffer.from(s), Buffer.from([0]));
    }
    ws.send(Buffer.concat(parts));
  }
  while (!state.ok) await sleep(5);
  return state;
}

/**
 * A publisher of JSON frames that counts acks.
 * @param {string} url
 */
async function publisher(url) {
  const ws = new WebSocket(url, 'sluice.v1.json', { perMessageDeflate: false });
  await new Promise((resolve) => ws.once('open', resolve));
  let acked = 0;
  let id = 1;
  ws.on('message', (data) => {
    if (JSON.parse(data.toString()).op === 'ack') acked++;
  });
  return {
    ws,
    /** @param {string} subject @param {string} data */
    publish: (subject, data) => ws.send(JSON.stringify({ op: 'publish', id: id++, subject, data })),
    acked: () => acked,
    sent: () => id - 1,
  };
}

const gateway = await Gateway.start({
  toml:
    '[gateway]\nexposed_topics = ["demo"]\npublish_rate_per_s = 0\npublishes_in_flight_per_client_max = 100000\n' +
    '[broker.embedded]\nstorage = "memory"\n',
});
const gatewayPid = /** @type {number} */ (gateway.child?.pid);
const pinned = pin(gatewayPid, '0') && pin(process.pid, '1');
console.log(
  `gateway ${process.env.SLUICE_BIN ?? 'debug build'}; pinned: ${pinned ? 'gateway CPU 0, clients CPU 1' : 'no'}`,
);
try {
  // 1. Bytes on the wire.
  console.log(
    `\n## Bytes on the wire: ${updates} updates of a ${value(0).length}-byte JSON value, one field changed each`,
  );
  console.log('| encoding | mode | bytes read | per update | vs full |');
  console.log('|---|---|---|---|---|');
  const pub = await publisher(gateway.url);
  for (const encoding of ['json', 'binary']) {
    const subject = `/demo/bytes-${encoding}`;
    pub.publish(subject, value(0));
    while (pub.acked() < pub.sent()) await sleep(5);
    const clients = [];
    for (const mode of MODES)
      clients.push({ mode, s: await subscriber(gateway.url, mode, encoding, [subject]) });
    await sleep(200);
    /** Bytes the client's TCP socket has read (ws keeps it as `_socket`). */
    const bytesRead = (/** @type {any} */ ws) => /** @type {number} */ (ws._socket.bytesRead);
    const before = clients.map((c) => bytesRead(c.s.ws));
    for (let i = 1; i <= updates; i++) {
      pub.publish(subject, value(i));
      while (pub.acked() < pub.sent()) await sleep(1);
    }
    while (clients.some((c) => c.s.messages < updates + 1)) await sleep(10);
    const read = clients.map((c, i) => bytesRead(c.s.ws) - before[i]);
    for (const [i, c] of clients.entries()) {
      if (encoding === 'json') {
        const got = c.s.last.get(subject)?.toString();
        if (got !== value(updates)) console.log(`!! ${c.mode.name}: the last value rebuilt differs`);
      }
      const ratio = (read[0] / read[i]).toFixed(1);
      console.log(
        `| ${encoding} | ${c.mode.name} | ${read[i]} | ${Math.round(read[i] / updates)} | ${ratio}× smaller |`,
      );
      c.s.ws.close();
    }
  }

  // 2. The gateway's CPU per delivery.
  const deliveries = rate * seconds * (subscribers / subjects);
  console.log(
    `\n## Gateway CPU per delivery: ${subscribers} subscribers over ${subjects} subjects (JSON), ${rate} values/s for ${seconds} s (${deliveries} deliveries)`,
  );
  console.log('| round | mode | delivered | gateway CPU s | µs per delivery |');
  console.log('|---|---|---|---|---|');
  for (let round = 1; round <= rounds; round++) {
    for (const mode of MODES) {
      const subs = Array.from(
        { length: subjects },
        (_, s) => `/demo/cost-${round}-${mode.name.replace(/\W/g, '')}-${s}`,
      );
      for (const s of subs) pub.publish(s, value(0));
      const clients = [];
      for (let c = 0; c < subscribers; c++)
        clients.push(await subscriber(gateway.url, mode, 'json', [subs[c % subjects]]));
      await sleep(300);
      const base = clients.reduce((n, c) => n + c.messages, 0);
      const cpu0 = cpuSeconds(gatewayPid);
      const start = Date.now();
      let i = 1;
      while (Date.now() - start < seconds * 1000) {
        const due = Math.floor(((Date.now() - start) / 1000) * rate);
        for (; i <= due && i <= rate * seconds; i++) pub.publish(subs[i % subjects], value(i));
        await sleep(2);
      }
      for (; i <= rate * seconds; i++) pub.publish(subs[i % subjects], value(i));
      const expected = base + rate * seconds * (subscribers / subjects);
      const deadline = Date.now() + 30000;
      while (clients.reduce((n, c) => n + c.messages, 0) < expected && Date.now() < deadline) await sleep(20);
      const cpu = cpuSeconds(gatewayPid) - cpu0;
      const got = clients.reduce((n, c) => n + c.messages, 0) - base;
      console.log(
        `| ${round} | ${mode.name} | ${got} | ${cpu.toFixed(2)} | ${((cpu * 1e6) / got).toFixed(1)} |`,
      );
      for (const c of clients) c.ws.close();
      await sleep(300);
    }
  }
  pub.ws.close();
} finally {
  await gateway.kill();
}
