// Memory with many idle clients: opens `count` logged-in node-postgres connections to
// the proxy (each one a verified token, an upstream session and a recorded session
// start), leaves them idle, and reads the proxy's resident set size from /proc.
import pg from 'pg';
import { rssBytes } from './proc.js';

export async function idleConnections({ port, user, database, token, pid, count, concurrency = 24 }) {
  const settle = () => new Promise((r) => setTimeout(r, 1500));
  await settle();
  const before = rssBytes(pid);
  const clients = [];
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  let firstError;
  const worker = async () => {
    while (next < count) {
      next++;
      const c = new pg.Client({ host: '127.0.0.1', port, user, database, password: token, ssl: false, application_name: 'bench-idle' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        clients.push(c);
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const openSeconds = (performance.now() - t0) / 1000;
  // One statement on one of them proves the sessions are usable, not just accepted.
  if (clients[0]) await clients[0].query('SELECT 1');
  await settle();
  const after = rssBytes(pid);
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  return { opened: clients.length, failed, firstError, openSeconds, rssBefore: before, rssAfter: after, perConnection: (after - before) / Math.max(1, clients.length) };
}
