// What reaches Postgres, byte for byte and write for write. An extended-protocol batch
// (Parse, Bind, Describe, Execute, Sync) is decided message by message, with I/O in
// between (the trace's owner/risk lookup, the durable audit record), and must still
// reach the upstream as one write of exactly the bytes the client sent: one wake-up of
// the backend instead of five, and no message decoded and re-encoded on the way.
import { randomBytes } from 'node:crypto';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { collect, rawLogin } from '../../helpers/raw-client.js';
import { sharedUpstream, startForwarder, startHardenedProxy, type Forwarder, type HardenedProxy } from './harness.js';

let forwarder: Forwarder;
let h: HardenedProxy;
let agent: string;

beforeAll(async () => {
  const upstream = sharedUpstream();
  forwarder = await startForwarder(upstream);
  h = await startHardenedProxy({ upstream: { ...upstream, host: '127.0.0.1', port: forwarder.port } });
  agent = await getToken('agent-a');
});
afterAll(async () => {
  await h?.close();
  await forwarder?.close();
});

function chunksHolding(marker: string): Buffer[] {
  return forwarder.received.flat().filter((c) => c.includes(marker));
}

test('a Parse..Sync batch decided with I/O in between reaches the upstream in one write, untouched', async () => {
  const socket = await rawLogin(h.port, agent);
  try {
    for (let round = 0; round < 3; round++) {
      const marker = `batch_${randomBytes(6).toString('hex')}`;
      const batch = Buffer.concat([
        serialize.parse({ text: `SELECT trace_id, risk FROM traces WHERE trace_id = $1 /* ${marker} */`, types: [] }),
        serialize.bind({ values: [WELL_KNOWN_TRACES.agentALow] }),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync(),
      ]);
      socket.write(batch);
      const r = await collect(socket, 10_000, (m) => m.type === 'ReadyForQuery');
      expect(r.messages.map((m) => m.type)).toEqual(['ParseComplete', 'BindComplete', 'RowDescription', 'DataRow', 'CommandComplete', 'ReadyForQuery']);
      expect(chunksHolding(marker)).toEqual([batch]);
    }
  } finally {
    socket.destroy();
  }
});

test('a batch the client sends in pieces is forwarded as far as it has arrived: nothing waits for the rest', async () => {
  const socket = await rawLogin(h.port, agent);
  try {
    const marker = `pieces_${randomBytes(6).toString('hex')}`;
    const head = Buffer.concat([
      serialize.parse({ text: `SELECT risk FROM traces WHERE trace_id = $1 /* ${marker} */`, types: [] }),
      serialize.bind({ values: [WELL_KNOWN_TRACES.agentALow] }),
    ]);
    socket.write(head);
    // Nothing asks the upstream to answer yet, so nothing is owed to the client either;
    // once the client has nothing more to send, what it sent is forwarded.
    await expect.poll(() => Buffer.concat(chunksHolding(marker)).length, { timeout: 5000 }).toBe(head.length);
    socket.write(Buffer.concat([serialize.execute({}), serialize.sync()]));
    const r = await collect(socket, 10_000, (m) => m.type === 'ReadyForQuery');
    expect(r.messages.map((m) => m.type)).toEqual(['ParseComplete', 'BindComplete', 'DataRow', 'CommandComplete', 'ReadyForQuery']);
  } finally {
    socket.destroy();
  }
});
