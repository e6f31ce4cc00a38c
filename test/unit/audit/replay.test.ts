// `sessions replay` prints a recorded session as its client saw it.
import { describe, expect, test } from 'vitest';
import { runAuditCommand } from '../../../src/cli/audit.js';
import { runSessionsCommand } from '../../../src/cli/sessions.js';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import type { AuditStore, ResponseField } from '../../../src/audit/store.js';
import { decision, grant, sessionStart, T0, tempDir, text } from './helpers.js';

const field = (name: string, typeOid: number, format: 0 | 1 = 0): ResponseField => ({
  name,
  tableOid: 16384,
  columnNumber: 1,
  typeOid,
  typeSize: -1,
  typeModifier: -1,
  format,
});

async function recordDemoSession(store: AuditStore): Promise<void> {
  await store.recordSessionStart(sessionStart());

  await store.recordDecision(
    decision({ statementId: 'st-1', text: 'BEGIN', parameters: [], rule: null, reason: 'housekeeping', grantId: null, traceId: null, decisionId: 'd-1' }),
  );
  const begin = store.openResponse({ sessionId: 's-1', statementId: 'st-1' });
  begin.add({ type: 'CommandComplete', tag: 'BEGIN' });
  begin.end({ at: T0 + 1001, rows: 0, bytes: 0, durationMs: 0.25, commandTag: 'BEGIN', error: null });

  await store.recordDecision(
    decision({
      statementId: 'st-2',
      at: T0 + 2000,
      text: 'SELECT step, role, content FROM trace_steps WHERE trace_id = $1 ORDER BY step',
      decisionId: 'd-2',
      grantId: 'g-2',
    }),
    grant({ grantId: 'g-2', statementId: 'st-2', issuedAt: T0 + 2000, expiresAt: T0 + 32_000 }),
  );
  const steps = store.openResponse({ sessionId: 's-1', statementId: 'st-2' });
  steps.add({ type: 'RowDescription', fields: [field('step', 23), field('role', 25), field('content', 25)] });
  steps.add({ type: 'DataRow', fields: [text('1'), text('user'), text('email me at [redacted:email]')] });
  steps.add({ type: 'DataRow', fields: [text('2'), text('assistant'), text('line one\nline two')] });
  steps.add({ type: 'DataRow', fields: [text('10'), null, text('')] });
  steps.add({ type: 'NoticeResponse', fields: { severity: 'NOTICE', code: '00000', message: 'masked 1 value' } });
  steps.add({ type: 'CommandComplete', tag: 'SELECT 3' });
  steps.end({ at: T0 + 2004, rows: 3, bytes: 120, durationMs: 4.5, commandTag: 'SELECT 3', error: null });
  store.recordGrantRevoked({ grantId: 'g-2', sessionId: 's-1', at: T0 + 2004, reason: 'completed' });

  await store.recordDecision(
    decision({ statementId: 'st-3', at: T0 + 3000, text: 'SELECT * FROM traces WHERE trace_id = $1', decisionId: 'd-3', grantId: 'g-3' }),
  );
  const binary = store.openResponse({ sessionId: 's-1', statementId: 'st-3' });
  const int8 = Buffer.alloc(8);
  int8.writeBigInt64BE(-42n);
  const ts = Buffer.alloc(8);
  ts.writeBigInt64BE(BigInt(Date.parse('2025-03-01T12:34:56.789Z') - Date.UTC(2000, 0, 1)) * 1000n + 123n);
  const f8 = Buffer.alloc(8);
  f8.writeDoubleBE(0.5);
  binary.add({
    type: 'RowDescription',
    fields: [
      field('n', 20, 1),
      field('ok', 16, 1),
      field('id', 2950, 1),
      field('created_at', 1184, 1),
      field('body', 3802, 1),
      field('score', 701, 1),
      field('blob', 1790, 1),
    ],
  });
  binary.add({
    type: 'DataRow',
    fields: [
      int8,
      Buffer.from([1]),
      Buffer.from('0123456789abcdef0123456789abcdef', 'hex'),
      ts,
      Buffer.concat([Buffer.from([1]), text('{"a": 1}')]),
      f8,
      Buffer.from([0xde, 0xad]),
    ],
  });
  binary.add({ type: 'CommandComplete', tag: 'SELECT 1' });
  binary.end({ at: T0 + 3002, rows: 1, bytes: 80, durationMs: 2, commandTag: 'SELECT 1', error: null });

  await store.recordDecision(
    decision({
      statementId: 'st-4',
      at: T0 + 4000,
      text: 'SELECT * FROM customers',
      parameters: [],
      decision: 'deny',
      rule: null,
      reason: 'customers is not a trace table',
      sqlstate: '42501',
      decisionId: 'd-4',
      grantId: null,
      traceId: null,
    }),
  );
  const denied = store.openResponse({ sessionId: 's-1', statementId: 'st-4' });
  denied.add({
    type: 'ErrorResponse',
    fields: {
      severity: 'ERROR',
      code: '42501',
      message: 'permission denied (decision d-4)',
      detail: 'customers is not a trace table',
    },
  });
  denied.end({ at: T0 + 4000, rows: 0, bytes: 0, durationMs: 0.1, commandTag: null, error: { sqlstate: '42501', message: 'permission denied' } });

  await store.recordDecision(decision({ statementId: 'st-5', at: T0 + 5000, text: 'SELECT content FROM trace_steps WHERE trace_id = $1', decisionId: 'd-5', grantId: 'g-5' }));
  const big = store.openResponse({ sessionId: 's-1', statementId: 'st-5', capBytes: 100 });
  big.add({ type: 'RowDescription', fields: [field('content', 25)] });
  for (let i = 0; i < 5; i++) big.add({ type: 'DataRow', fields: [text(`row ${i} ${'x'.repeat(20)}`)] });
  big.add({ type: 'CommandComplete', tag: 'SELECT 5' });
  big.end({ at: T0 + 5001, rows: 5, bytes: 150, durationMs: 1, commandTag: 'SELECT 5', error: null });

  store.recordSessionEnd({ sessionId: 's-1', at: T0 + 6000, reason: 'client-terminate' });
}

async function run(command: typeof runSessionsCommand, args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await command(args, (line) => lines.push(line));
  return { code, lines };
}

describe('sessions replay', () => {
  test('prints the session as the client saw it', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path });
    await recordDemoSession(store);
    await store.close();

    const { code, lines } = await run(runSessionsCommand, ['replay', 's-1', '--store', path]);
    expect(code).toBe(0);
    expect(lines.join('\n')).toBe(EXPECTED_REPLAY);
  });
});

describe('CLI', () => {
  test('sessions list, show, and the errors', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path });
    await recordDemoSession(store);
    await store.close();

    const listed = await run(runSessionsCommand, ['list', '--store', path, '--trace', 't-1', '--since', '2025-03-01']);
    expect(listed.code).toBe(0);
    expect(listed.lines.at(-1)).toBe('(1 row)');
    expect(listed.lines[2]).toContain(' s-1 ');
    expect((await run(runSessionsCommand, ['list', '--store', path, '--subject', 'nobody'])).lines.at(-1)).toBe('(0 rows)');

    const shown = await run(runSessionsCommand, ['show', 's-1', '--store', path]);
    expect(shown.code).toBe(0);
    expect(shown.lines).toContain('subject      agent-7');
    expect(shown.lines.some((l) => l.includes('deny') && l.includes('42501'))).toBe(true);

    expect((await run(runSessionsCommand, ['show', 'nope', '--store', path])).code).toBe(1);
    expect((await run(runSessionsCommand, ['replay', '--store', path])).code).toBe(2);
    expect((await run(runSessionsCommand, ['list'])).code).toBe(2);
    expect((await run(runSessionsCommand, ['list', '--store', dir.file('missing.db')])).code).toBe(2);
    expect((await run(runSessionsCommand, ['list', '--store', path, '--since', 'yesterday'])).code).toBe(2);
  });

  test('audit verify, export and prune', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path });
    await recordDemoSession(store);
    await store.close();

    const ok = await run(runAuditCommand, ['verify', '--store', path]);
    expect(ok.code).toBe(0);
    expect(ok.lines[0]).toMatch(/^audit chain ok: \d+ records from seq 1 to \d+; head hash [0-9a-f]{64}$/);

    const exported = await run(runAuditCommand, ['export', '--since', '2025-03-01T12:00:03Z', '--store', path]);
    expect(exported.code).toBe(0);
    const records = exported.lines.map((l) => JSON.parse(l) as { kind: string; atMs: number });
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.atMs >= Date.parse('2025-03-01T12:00:03Z'))).toBe(true);

    // Everything was recorded in 2025: an --older-than of 1d prunes all but the prune record.
    const pruned = await run(runAuditCommand, ['prune', '--older-than', '1d', '--store', path]);
    expect(pruned.code).toBe(0);
    expect(pruned.lines[0]).toMatch(/^pruned \d+ records; the chain continues from checkpoint seq \d+/);
    expect((await run(runAuditCommand, ['verify', '--store', path])).code).toBe(0);
    expect((await run(runAuditCommand, ['prune', '--store', path])).code).toBe(2);
  });

  test('audit verify exits 1 naming the first broken link', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path });
    await recordDemoSession(store);
    await store.close();
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path);
    // Looked up, not assumed: batched records (completions, revocations) reach the chain
    // on their own timer, so where the denied statement's record lands varies.
    const { seq } = db.prepare(`SELECT seq FROM records WHERE kind = 'statement' AND body LIKE '%FROM customers%'`).get() as { seq: number };
    db.prepare(`UPDATE records SET body = replace(body, 'customers', 'orders') WHERE seq = ?`).run(seq);
    db.close();
    const broken = await run(runAuditCommand, ['verify', '--store', path]);
    expect(broken.code).toBe(1);
    expect(broken.lines[0]).toBe(`audit chain BROKEN at seq ${seq} (statement): hash mismatch (the record, or the link to the one before it, was altered)`);
  });
});

// Trailing spaces are psql's: a header cell is padded, the last data cell is not.
const EXPECTED_REPLAY = [
  "-- session s-1",
  "-- subject agent-7 (groups: ai-agents), mode enforce",
  "-- client 127.0.0.1:50000, application psql, TLSv1.3 TLS_AES_256_GCM_SHA384",
  "-- token jti jti-1, sha256 abababababababababababababababababababababababababababababababab",
  "-- started 2025-03-01T12:00:00.000Z",
  "",
  "-- [1] 2025-03-01T12:00:01.000Z (+1.000s) allow: housekeeping",
  "--     rule (none), decision d-1",
  "--     0 rows, 0 bytes, 0.250 ms",
  "BEGIN",
  "BEGIN",
  "",
  "-- [2] 2025-03-01T12:00:02.000Z (+2.000s) allow: single trace t-1",
  "--     rule agents-read-own, trace t-1, grant g-2, decision d-2",
  "--     3 rows, 120 bytes, 4.500 ms",
  "SELECT step, role, content FROM trace_steps WHERE trace_id = $1 ORDER BY step",
  "--     parameters: $1 = 't-1'",
  "NOTICE:  masked 1 value",
  " step |   role    |           content            ",
  "------+-----------+------------------------------",
  "    1 | user      | email me at [redacted:email]",
  "    2 | assistant | line one                    +",
  "      |           | line two",
  "   10 |           | ",
  "(3 rows)",
  "",
  "-- [3] 2025-03-01T12:00:03.000Z (+3.000s) allow: single trace t-1",
  "--     rule agents-read-own, trace t-1, grant g-3, decision d-3",
  "--     1 row, 80 bytes, 2.000 ms",
  "SELECT * FROM traces WHERE trace_id = $1",
  "--     parameters: $1 = 't-1'",
  "  n  | ok |                  id                  |          created_at           |   body   | score |  blob  ",
  "-----+----+--------------------------------------+-------------------------------+----------+-------+--------",
  " -42 | t  | 01234567-89ab-cdef-0123-456789abcdef | 2025-03-01 12:34:56.789123+00 | {\"a\": 1} |   0.5 | \\xdead",
  "(1 row)",
  "",
  "-- [4] 2025-03-01T12:00:04.000Z (+4.000s) deny: customers is not a trace table",
  "--     rule (none), decision d-4",
  "--     0 rows, 0 bytes, 0.100 ms",
  "SELECT * FROM customers",
  "ERROR:  42501: permission denied (decision d-4)",
  "DETAIL:  customers is not a trace table",
  "",
  "-- [5] 2025-03-01T12:00:05.000Z (+5.000s) allow: single trace t-1",
  "--     rule agents-read-own, trace t-1, grant g-5, decision d-5",
  "--     5 rows, 150 bytes, 1.000 ms",
  "SELECT content FROM trace_steps WHERE trace_id = $1",
  "--     parameters: $1 = 't-1'",
  "          content           ",
  "----------------------------",
  " row 0 xxxxxxxxxxxxxxxxxxxx",
  "(1 row)",
  "-- response recording truncated at 100 bytes: 4 more rows, 1 other message (162 bytes) not recorded",
  "",
  "-- ended 2025-03-01T12:00:06.000Z (+6.000s): client-terminate",
].join('\n');
