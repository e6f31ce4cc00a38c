// Backpressure: a client that does not read must not make tracegate buffer without
// bound. Two directions: a 200 MB result to a client that paused its socket (the
// upstream must be left blocked writing, Postgres's ClientWrite wait, while the proxy's
// buffers stay small, and every row must still arrive once the client reads), and a
// client that pipelines denied statements without ever reading the errors (the proxy
// must stop reading from it, not queue an error per statement forever).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BackendReader, decodeBackend } from '../../../protocol/index.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { rawLogin } from '../../helpers/raw-client.js';
import { bufferMemory, startRaisedLimitsProxy, type HardenedProxy } from './harness.js';

const MB = 1024 * 1024;
const ROWS = 20_000;
const ROW_BYTES = 10_000;

let h: HardenedProxy;
let reviewer: string;
const dir = mkdtempSync(join(tmpdir(), 'tracegate-backpressure-'));

beforeAll(async () => {
  h = await startRaisedLimitsProxy(dir);
  reviewer = await getToken('reviewer');
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Reads everything the socket delivers until ReadyForQuery, counting instead of keeping. */
function drainResult(socket: net.Socket): Promise<{ dataRows: number; bytes: number; tag: string | undefined; error: string | undefined }> {
  return new Promise((resolve) => {
    const reader = new BackendReader({ maxMessageBytes: 1 << 26 });
    let dataRows = 0;
    let bytes = 0;
    let tag: string | undefined;
    let error: string | undefined;
    const onData = (chunk: Buffer): void => {
      reader.push(chunk);
      for (let f = reader.read(); f; f = reader.read()) {
        bytes += f.raw.length;
        if (f.code === 0x44) dataRows++;
        else {
          const m = decodeBackend(f);
          if (m.type === 'CommandComplete') tag = m.tag;
          if (m.type === 'ErrorResponse') error = `${m.fields.code} ${m.fields.message}`;
          if (m.type === 'ReadyForQuery') {
            socket.off('data', onData);
            resolve({ dataRows, bytes, tag, error });
            return;
          }
        }
      }
    };
    socket.on('data', onData);
    socket.resume();
  });
}

describe('a client that reads slowly', () => {
  test('a 200 MB result to a paused client leaves the upstream blocked and the proxy holding little', async () => {
    const marker = `backpressure_${randomBytes(6).toString('hex')}`;
    const socket = await rawLogin(h.port, reviewer);
    socket.pause();
    const before = bufferMemory();
    socket.write(
      serialize.query(
        `SELECT t.trace_id, g, rpad('x', ${ROW_BYTES}, 'x') AS filler /* ${marker} */ FROM traces t, generate_series(1, ${ROWS}) g WHERE t.trace_id = '${WELL_KNOWN_TRACES.agentALow}'`,
      ),
    );
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      await sleep(100);
      peak = Math.max(peak, bufferMemory() - before);
    }

    // The upstream backend is stuck sending: tracegate stopped reading from it.
    const admin = new pg.Client(pgClientConfig());
    await admin.connect();
    try {
      const { rows } = await admin.query<{ state: string; wait_event: string | null }>(
        `SELECT state, wait_event FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
        [`%${marker}%`],
      );
      expect(rows).toEqual([{ state: 'active', wait_event: 'ClientWrite' }]);
    } finally {
      await admin.end();
    }
    // The result is 200 MB; what the proxy holds meanwhile is bounded by its socket
    // buffers, not by the result.
    expect(peak).toBeLessThan(48 * MB);

    const result = await drainResult(socket);
    expect(result.error).toBeUndefined();
    expect(result.dataRows).toBe(ROWS);
    expect(result.tag).toBe(`SELECT ${ROWS}`);
    expect(result.bytes).toBeGreaterThan(ROWS * ROW_BYTES);
    socket.destroy();
    expect(h.proxy.grants.active()).toEqual([]);
  }, 120_000);
});

describe('a client that pipelines without reading', () => {
  test('the proxy stops reading denied statements once their errors back up, and answers every one later', async () => {
    const socket = await rawLogin(h.port, reviewer);
    socket.pause();
    // A statement the parser rejects is answered with an error quoting the rest of the
    // input ("unterminated quoted string at or near ..."), as Postgres does: 60 kB of
    // answer per 60 kB statement, so unread answers pile up as fast as statements go in.
    const denied = serialize.query(`SELECT '${'q'.repeat(60_000)}`);
    const { written, peak, atSample: at4s, atEnd: at8s } = await flood(socket, denied, 4000, 8000);
    // Stalled: in the last four seconds the proxy took (almost) nothing more. Without
    // flow control toward the client it reads on at tens of MB a second.
    expect(at4s).toBeGreaterThan(0);
    expect(at8s - at4s).toBeLessThan(2 * MB);
    expect(peak).toBeLessThan(64 * MB);

    // Once the client reads, every statement it sent is answered, in order.
    const statements = written / denied.length;
    const reader = new BackendReader({ maxMessageBytes: 1 << 20 });
    const codes = new Map<string, number>();
    let ready = 0;
    await new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        for (let f = reader.read(); f; f = reader.read()) {
          const m = decodeBackend(f);
          if (m.type === 'ErrorResponse') codes.set(m.fields.code, (codes.get(m.fields.code) ?? 0) + 1);
          if (m.type === 'ReadyForQuery' && ++ready === statements) resolve();
        }
      });
      socket.resume();
    });
    expect(Object.fromEntries(codes)).toEqual({ '42601': statements });
    socket.destroy();
  }, 120_000);
});

describe('a client that keeps sending while its statement waits', () => {
  test('the proxy reads only a bounded amount ahead of a pending decision (here an approval that never comes)', async () => {
    const agent = await getToken('agent-a');
    const socket = await rawLogin(h.port, agent);
    let noticed = false;
    const reader = new BackendReader({ maxMessageBytes: 1 << 20 });
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let f = reader.read(); f; f = reader.read()) {
        const m = decodeBackend(f);
        if (m.type === 'NoticeResponse' && m.fields.message.startsWith('waiting for approval')) noticed = true;
      }
    });
    try {
      socket.write(serialize.query(`SELECT trace_id FROM traces WHERE trace_id = '${WELL_KNOWN_TRACES.agentAHigh}'`));
      await expect.poll(() => noticed, { timeout: 10_000 }).toBe(true);
      const filler = serialize.query(`SELECT '${'q'.repeat(60_000)}'`);
      const { peak, atSample: at2s, atEnd: at5s } = await flood(socket, filler, 2000, 5000);
      // Socket buffers on both sides plus the proxy's read-ahead: a few MB at most, and
      // nothing more taken in the last three seconds.
      expect(at2s).toBeGreaterThan(0);
      expect(at2s).toBeLessThan(16 * MB);
      expect(at5s - at2s).toBeLessThan(1 * MB);
      expect(peak).toBeLessThan(32 * MB);
    } finally {
      socket.destroy();
    }
  }, 60_000);
});

/**
 * Writes `message` over and over for `forMs`, four at a time, as a well-behaved writer:
 * it waits for drain, so the client's own buffer stays small and what grows (or not) is
 * the proxy. Returns the bytes written, the peak growth of this process's Buffer memory,
 * and the bytes the proxy had taken (written minus still queued here) at `sampleAtMs`
 * and at the end.
 */
async function flood(socket: net.Socket, message: Buffer, sampleAtMs: number, forMs: number): Promise<{ written: number; peak: number; atSample: number; atEnd: number }> {
  const batch = Buffer.concat(Array.from({ length: 4 }, () => message));
  const accepted = (): number => socket.bytesWritten - socket.writableLength;
  const before = bufferMemory();
  let written = 0;
  let peak = 0;
  let atSample = 0;
  const sample = setTimeout(() => (atSample = accepted()), sampleAtMs);
  const deadline = Date.now() + forMs;
  while (Date.now() < deadline) {
    peak = Math.max(peak, bufferMemory() - before);
    if (socket.writableNeedDrain) {
      await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(250)]);
      continue;
    }
    socket.write(batch);
    written += batch.length;
  }
  clearTimeout(sample);
  return { written, peak, atSample, atEnd: accepted() };
}
