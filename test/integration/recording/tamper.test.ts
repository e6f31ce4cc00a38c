// Altering one row of the store a real proxy session wrote (through a separate SQLite
// connection, as an intruder with file access would) makes `tracegate audit verify` exit
// 1 naming exactly that record; undoing the change makes it pass again.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { linkHash } from '../../../src/audit/chain.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { auditCli, endedSession, sessionIdByApplication, STORE_FILE } from './harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;

interface Row {
  seq: number;
  kind: string;
  at: number;
  session_id: string | null;
  ref: string | null;
  subject: string | null;
  trace_id: string | null;
  body: string;
  hash: string;
}

let proxy: TestProxy;
let storePath: string;
let rows: Row[];

beforeAll(async () => {
  proxy = await startTestProxy();
  storePath = join(proxy.dir, STORE_FILE);
  const client = await proxy.connect(await getToken('agent-a'), { application_name: 'recording-tamper' });
  await client.query('SELECT trace_id, user_email, risk FROM traces WHERE trace_id = $1', [MINE]);
  await client.end();
  const sessionId = await sessionIdByApplication(storePath, 'recording-tamper');
  await endedSession(storePath, sessionId);
  const db = new Database(storePath, { readonly: true });
  rows = db.prepare<[string], Row>('SELECT * FROM records WHERE session_id = ? ORDER BY seq').all(sessionId);
  db.close();
  expect((await auditCli(storePath, 'verify')).code).toBe(0);
});
afterAll(async () => proxy?.close());

function row(kind: string): Row {
  const found = rows.find((r) => r.kind === kind);
  if (!found) throw new Error(`no ${kind} record in ${rows.map((r) => r.kind).join(', ')}`);
  return found;
}

/** Applies `change` through its own connection, runs verify, then restores the row. */
async function verifyAfter(target: Row, change: (db: Database.Database) => void): Promise<{ code: number; lines: string[] }> {
  const db = new Database(storePath);
  try {
    change(db);
    return await auditCli(storePath, 'verify');
  } finally {
    db.prepare('DELETE FROM records WHERE seq = ?').run(target.seq);
    db.prepare(
      'INSERT INTO records (seq, kind, at, session_id, ref, subject, trace_id, body, hash) VALUES (@seq, @kind, @at, @session_id, @ref, @subject, @trace_id, @body, @hash)',
    ).run(target);
    db.close();
  }
}

function brokenAt(seq: number, kind: string, problem: 'hash mismatch' | 'sequence gap'): RegExp {
  return new RegExp(`^audit chain BROKEN at seq ${seq} \\(${kind}\\): ${problem}`);
}

/** The recorded row (base64 of the DataRow the client got) holding `from`, and it with `to` instead. */
function rowWithRisk(body: string, from: string, to: string): [string, string] {
  const { events } = JSON.parse(body) as { events: [string, unknown][] };
  for (const [tag, arg] of events) {
    if (tag !== 'D' || typeof arg !== 'string') continue;
    const bytes = Buffer.from(arg, 'base64');
    const at = bytes.indexOf(from);
    if (at === -1) continue;
    bytes.write(to, at);
    return [arg, bytes.toString('base64')];
  }
  throw new Error(`no recorded row holds ${from}`);
}

// Each alteration is one UPDATE of one row; the record it targets is chosen by kind.
const ALTERATIONS: readonly [string, string, string, (r: Row) => (string | number)[]][] = [
  ['the trace a statement read (an indexed column)', 'statement', 'UPDATE records SET trace_id = ? WHERE seq = ?', (r) => [WELL_KNOWN_TRACES.agentBLow, r.seq]],
  ['the subject of the session', 'session-start', 'UPDATE records SET subject = ? WHERE seq = ?', (r) => ['someone-else', r.seq]],
  ['a value the client received', 'statement-complete', 'UPDATE records SET body = replace(body, ?, ?) WHERE seq = ?', (r) => [...rowWithRisk(r.body, 'low', 'hig'), r.seq]],
  ['when the grant was revoked', 'grant-revoke', 'UPDATE records SET at = at + 60000 WHERE seq = ?', (r) => [r.seq]],
];

test.each(ALTERATIONS)('altering %s breaks the chain at exactly that record', async (_name, kind, sql, params) => {
  const target = row(kind);
  const result = await verifyAfter(target, (db) => {
    expect(db.prepare(sql).run(...params(target)).changes).toBe(1);
  });
  expect(result.code).toBe(1);
  expect(result.lines[0]).toMatch(brokenAt(target.seq, kind, 'hash mismatch'));
  expect((await auditCli(storePath, 'verify')).code).toBe(0);
});

test('a record rewritten with its own hash recomputed breaks the link of the record after it', async () => {
  const target = row('statement');
  const next = rows.find((r) => r.seq === target.seq + 1) as Row;
  const result = await verifyAfter(target, (db) => {
    const prev = db.prepare<[number], { hash: string }>('SELECT hash FROM records WHERE seq = ?').get(target.seq - 1)?.hash as string;
    const body = target.body.replace(MINE, WELL_KNOWN_TRACES.agentBLow);
    const forged = linkHash(prev, target.seq, { kind: target.kind, at: target.at, sessionId: target.session_id, ref: target.ref, subject: target.subject, traceId: target.trace_id, body });
    db.prepare('UPDATE records SET body = ?, hash = ? WHERE seq = ?').run(body, forged, target.seq);
  });
  expect(result.code).toBe(1);
  expect(result.lines[0]).toMatch(brokenAt(next.seq, next.kind, 'hash mismatch'));
});

test('a deleted record is a sequence gap at the record after it', async () => {
  const target = row('statement');
  const next = rows.find((r) => r.seq === target.seq + 1) as Row;
  const result = await verifyAfter(target, (db) => {
    db.prepare('DELETE FROM records WHERE seq = ?').run(target.seq);
  });
  expect(result.code).toBe(1);
  expect(result.lines[0]).toMatch(brokenAt(next.seq, next.kind, 'sequence gap'));
  expect((await auditCli(storePath, 'verify')).code).toBe(0);
});
