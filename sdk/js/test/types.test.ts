// Compiled by `tsc --noEmit` (npm test), never run: the shipped .d.ts give a
// TypeScript app the API of the README, and refuse what it must not compile.
import { Client, SluiceError, type Message, type SubscriptionStatus } from '@sluice/client';

async function app(token: () => Promise<string>): Promise<void> {
  const client = new Client({
    servers: ['wss://a.example/v1/ws', { url: 'wss://b.example/v1/ws', weight: 2 }],
    token,
    encoding: 'binary',
    reconnect: { minDelayMs: 500, maxDelayMs: 20000 },
    publishTimeoutMs: 5000,
    pendingPublishesMax: 100,
  });
  client.on('state', (s) => console.log(s));
  const sub = client.subscribe('/demo/greeting', {
    history: 10,
    onMessage: (m: Message) => {
      const data: string | Uint8Array | null = m.data;
      const seq: number = m.seq;
      const epoch: string = m.epoch;
      const type: 'snapshot' | 'update' | 'recovered' | 'history' = m.type;
      console.log(data, seq, epoch, type);
    },
    onStatus: (s: SubscriptionStatus) => console.log(s),
  });
  try {
    const ack = await client.publish('/demo/greeting', new Uint8Array([1, 2]), { retained: false });
    const seq: number = ack.seq;
    console.log(seq, ack.epoch);
  } catch (e) {
    if (e instanceof SluiceError) console.log(e.code, e.subject);
  }
  // @ts-expect-error data is a string or bytes
  await client.publish('/demo/greeting', 42);
  // @ts-expect-error encoding is 'json' or 'binary'
  new Client({ servers: ['ws://x/v1/ws'], encoding: 'xml' });
  sub.unsubscribe();
  client.reconnect({ afterMs: 1000 });
  await client.close();
}
void app;
