// A result far larger than any buffer the proxy should hold streams through it to a
// client that reads slower than Postgres sends, and the proxy's memory stays flat: the
// client socket's backpressure pauses the upstream read (so Postgres waits in
// ClientWrite instead of the proxy queueing), each DataRow is relayed as it arrives, and
// the response recorder keeps only its capped prefix. The proxy runs in this test's own
// process (vitest gives each file its own), so process.memoryUsage() is the proxy's
// plus this small client's.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { BackendReader, decodeBackend } from '../../../protocol/index.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { rawLogin } from '../../helpers/raw-client.js';
import { startRaisedLimitsProxy, type HardenedProxy } from './harness.js';

const MB = 1024 * 1024;
// 400 MB in 20,000 rows of 20 kB: large against every bound below, small enough for a
// test on a shared machine (bench/ has the 1 GB run).
const ROWS = 20_000;
const ROW_BYTES = 20_000;

let h: HardenedProxy;
let reviewer: string;
const dir = mkdtempSync(join(tmpdir(), 'tracegate-large-result-'));

beforeAll(async () => {
  h = await startRaisedLimitsProxy(dir);
  reviewer = await getToken('reviewer');
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Reads until ReadyForQuery, counting and dropping, pausing `pauseMs` after every `everyBytes`. */
function readSlowly(socket: net.Socket, everyBytes: number, pauseMs: number): Promise<{ dataRows: number; bytes: number; tag?: string; error?: string }> {
  return new Promise((resolve) => {
    const reader = new BackendReader({ maxMessageBytes: 1 << 26 });
    let dataRows = 0;
    let bytes = 0;
    let sincePause = 0;
    let tag: string | undefined;
    let error: string | undefined;
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      bytes += chunk.length;
      sincePause += chunk.length;
      for (let f = reader.read(); f; f = reader.read()) {
        if (f.code === 0x44) {
          dataRows++;
          continue;
        }
        const m = decodeBackend(f);
        if (m.type === 'CommandComplete') tag = m.tag;
        if (m.type === 'ErrorResponse') error = `${m.fields.code} ${m.fields.message}`;
        if (m.type === 'ReadyForQuery') {
          socket.removeAllListeners('data');
          resolve({ dataRows, bytes, ...(tag === undefined ? {} : { tag }), ...(error === undefined ? {} : { error }) });
          return;
        }
      }
      if (sincePause >= everyBytes) {
        sincePause = 0;
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
  });
}

test(`a ${Math.round((ROWS * ROW_BYTES) / MB)} MB result streams to a slow reader with the proxy's memory bounded`, async () => {
  const socket = await rawLogin(h.port, reviewer);
  try {
    // Settle what the login and earlier tests left, so growth is measured from a floor.
    global.gc?.();
    await sleep(200);
    const base = process.memoryUsage();
    let peak = { rss: 0, heapUsed: 0, arrayBuffers: 0 };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = {
        rss: Math.max(peak.rss, m.rss - base.rss),
        heapUsed: Math.max(peak.heapUsed, m.heapUsed - base.heapUsed),
        arrayBuffers: Math.max(peak.arrayBuffers, m.arrayBuffers - base.arrayBuffers),
      };
    }, 25);
    const marker = `large_${randomBytes(6).toString('hex')}`;
    const started = Date.now();
    // The extended protocol, as drivers send it, with the trace id a parameter.
    socket.write(
      Buffer.concat([
        serialize.parse({ text: `SELECT t.trace_id, g, rpad('x', ${ROW_BYTES}, 'x') AS filler /* ${marker} */ FROM traces t, generate_series(1, ${ROWS}) g WHERE t.trace_id = $1`, types: [] }),
        serialize.bind({ values: [WELL_KNOWN_TRACES.agentALow] }),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    // About 1 MB per 10 ms at most: slower than Postgres and the proxy can send.
    const result = await readSlowly(socket, MB, 10);
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;

    expect(result.error).toBeUndefined();
    expect(result.dataRows).toBe(ROWS);
    expect(result.tag).toBe(`SELECT ${ROWS}`);
    expect(result.bytes).toBeGreaterThan(ROWS * ROW_BYTES);
    // Bounds far under the 400 MB that went through: socket buffers, one read chunk,
    // the recorder's cap, and garbage not yet collected. Without flow control the
    // arrayBuffers figure alone grows by most of the result.
    expect(peak.arrayBuffers).toBeLessThan(48 * MB);
    expect(peak.heapUsed).toBeLessThan(96 * MB);
    expect(peak.rss).toBeLessThan(160 * MB);
    // For the record (vitest prints it with --reporter=verbose).
    console.info(
      `${(result.bytes / MB).toFixed(0)} MB in ${seconds.toFixed(1)} s to a slow reader; peak growth: rss ${(peak.rss / MB).toFixed(1)} MB, heap ${(peak.heapUsed / MB).toFixed(1)} MB, buffers ${(peak.arrayBuffers / MB).toFixed(1)} MB`,
    );
    expect(h.proxy.grants.active()).toEqual([]);
  } finally {
    socket.destroy();
  }
}, 300_000);
