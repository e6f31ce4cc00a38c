#!/usr/bin/env node
// `node bench/large-result.js` (after `npm run build`): a 1 GB result through tracegate.
// One permitted single-trace read by a reviewer (rows of one trace joined with
// generate_series, so the result is large but the statement is an ordinary allowed
// one), extended protocol, to a client that reads as fast as it can, and again to one
// that reads at about 50 MB/s. Prints the throughput, the proxy's CPU per MB and its
// resident memory before and at its peak (VmRSS from /proc, sampled every 20 ms): the
// relay must stream, with the client's backpressure pausing the upstream read, so the
// peak stays flat whatever the size.
//
// Environment: LARGE_MB (default 1024) the result size, LARGE_ROW_BYTES (default 20000),
// LARGE_JSON=FILE also writes the figures as JSON (bench/run.js reads them from there).
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import { cpuMicros, rssBytes } from './lib/proc.js';
import { BENCH_POLICY, startTracegate } from './lib/tracegate.js';

const { startBenchPostgres } = await import('./lib/postgres.js');
const { startDevIssuer, demoClients } = await import('../dist/src/demo/dev-issuer.js');
const { BackendReader, decodeBackend } = await import('../dist/protocol/index.js');

const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.LARGE_MB ?? 1024);
const ROW_BYTES = Number(process.env.LARGE_ROW_BYTES ?? 20_000);
const ROWS = Math.ceil((SIZE_MB * MB) / ROW_BYTES);
const TRACE_ID = 'tr_000011';
const log = (line) => process.stderr.write(`bench: ${line}\n`);

const dir = mkdtempSync(join(tmpdir(), 'tracegate-bench-large-'));
// The bench policy with the reviewers' per-statement limits raised above the result.
const policy = readFileSync(BENCH_POLICY, 'utf8').replace('limits: { maxRows: 10000, maxBytes: 64MB }', 'limits: { maxRows: 10000000, maxBytes: 4GB }');
if (!policy.includes('maxBytes: 4GB')) throw new Error('bench/policy.yaml: the reviewers\' limits line changed; update bench/large-result.js');
const policyFile = join(dir, 'policy.yaml');
writeFileSync(policyFile, policy);

log(`starting PostgreSQL, the dev issuer and tracegate`);
const pg = await startBenchPostgres({ traces: 20 });
const issuer = await startDevIssuer({ audience: 'tracegate', clients: demoClients(), accessTokenTtl: 3600 });
const tg = await startTracegate(pg, issuer, { policy: policyFile });
try {
  const token = await issuer.token('reviewer');
  // Warm-up: first-statement work (JIT, the catalog, the audit store) is not streaming.
  await stream(tg, pg.database, token, Infinity, 2000);
  const figures = [];
  for (const [label, mbPerSecond] of [
    ['fast reader', Infinity],
    ['slow reader (~50 MB/s)', 50],
  ]) {
    const r = await stream(tg, pg.database, token, mbPerSecond);
    figures.push({ label, ...r });
    console.log(
      `${label.padEnd(24)} ${(r.bytes / MB).toFixed(0)} MB, ${r.rows} rows in ${r.seconds.toFixed(1)} s: ${(r.bytes / MB / r.seconds).toFixed(0)} MB/s; ` +
        `proxy CPU ${(r.cpuUs / (r.bytes / MB)).toFixed(0)} µs/MB; proxy RSS ${(r.rss0 / MB).toFixed(1)} MB before, peak ${(r.rssPeak / MB).toFixed(1)} MB (+${((r.rssPeak - r.rss0) / MB).toFixed(1)} MB)`,
    );
  }
  if (process.env.LARGE_JSON) writeFileSync(process.env.LARGE_JSON, JSON.stringify(figures));
} finally {
  await tg.stop();
  await issuer.close();
  await pg.stop();
  rmSync(pg.baseDir, { recursive: true, force: true });
  rmSync(tg.dir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

async function stream(tg, database, token, mbPerSecond, rows = ROWS) {
  const socket = await new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: tg.port }, () => resolve(s));
    s.once('error', reject);
  });
  const reader = new BackendReader({ maxMessageBytes: 1 << 26 });
  const next = (until) =>
    new Promise((resolve, reject) => {
      const onData = (chunk) => {
        reader.push(chunk);
        for (let f = reader.read(); f; f = reader.read()) {
          const m = decodeBackend(f);
          if (m.type === 'ErrorResponse') return reject(new Error(`${m.fields.code} ${m.fields.message}`));
          if (until(m)) {
            socket.off('data', onData);
            return resolve(m);
          }
        }
      };
      socket.on('data', onData);
    });
  socket.write(serialize.startup({ user: 'reviewer', database }));
  await next((m) => m.type === 'AuthenticationCleartextPassword');
  socket.write(serialize.password(token));
  await next((m) => m.type === 'ReadyForQuery');

  const rss0 = rssBytes(tg.pid);
  let rssPeak = rss0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(tg.pid))), 20);
  const cpu0 = cpuMicros(tg.pid);
  const started = process.hrtime.bigint();
  socket.write(
    Buffer.concat([
      serialize.parse({ text: `SELECT t.trace_id, g, rpad('x', ${ROW_BYTES}, 'x') AS filler FROM traces t, generate_series(1, ${rows}) g WHERE t.trace_id = $1`, types: [] }),
      serialize.bind({ values: [TRACE_ID] }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    ]),
  );
  const result = await new Promise((resolve, reject) => {
    let bytes = 0;
    let rows = 0;
    let tag = null;
    const t0 = Date.now();
    socket.on('data', (chunk) => {
      bytes += chunk.length;
      reader.push(chunk);
      for (let f = reader.read(); f; f = reader.read()) {
        if (f.code === 0x44) {
          rows++;
          continue;
        }
        const m = decodeBackend(f);
        if (m.type === 'ErrorResponse') return reject(new Error(`${m.fields.code} ${m.fields.message}`));
        if (m.type === 'CommandComplete') tag = m.tag;
        if (m.type === 'ReadyForQuery') return resolve({ bytes, rows, tag });
      }
      if (Number.isFinite(mbPerSecond)) {
        // Ahead of the target rate: stop reading until the schedule catches up.
        const aheadMs = (bytes / MB / mbPerSecond) * 1000 - (Date.now() - t0);
        if (aheadMs > 1) {
          socket.pause();
          setTimeout(() => socket.resume(), aheadMs);
        }
      }
    });
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  const cpuUs = cpuMicros(tg.pid) - cpu0;
  socket.destroy();
  if (result.tag !== `SELECT ${rows}`) throw new Error(`expected SELECT ${rows}, got ${result.tag}`);
  return { ...result, seconds, cpuUs, rss0, rssPeak };
}
