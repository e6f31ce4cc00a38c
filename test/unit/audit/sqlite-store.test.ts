import { readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import type { ResponseField } from '../../../src/audit/store.js';
import { decision, grant, sessionStart, T0, tempDir, text } from './helpers.js';

const textField = (name: string, columnNumber: number): ResponseField => ({
  name,
  tableOid: 16384,
  columnNumber,
  typeOid: 25,
  typeSize: -1,
  typeModifier: -1,
  format: 0,
});

describe('SQLite audit store', () => {
  // The store holds statements, parameters and responses (a reviewer's unmasked rows):
  // other local users must not read it, nor its WAL.
  test('creates its file, and so its WAL, readable by its owner only', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path });
    await store.recordSessionStart(sessionStart());
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    await store.close();
  });

  test('records a full session and reads it back', async () => {
    using dir = tempDir();
    const store = await openSqliteStore({ path: dir.file('audit.db'), now: () => T0 + 5000 });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision(), grant());
    const rec = store.openResponse({ sessionId: 's-1', statementId: 'st-1' });
    rec.add({ type: 'RowDescription', fields: [textField('trace_id', 1), textField('user_email', 3)] });
    rec.add({ type: 'DataRow', fields: [text('t-1'), text('[redacted:email]')] });
    rec.add({ type: 'CommandComplete', tag: 'SELECT 1' });
    rec.end({ at: T0 + 1004, rows: 1, bytes: 40, durationMs: 3.5, commandTag: 'SELECT 1', error: null });
    store.recordGrantRevoked({ grantId: 'g-1', sessionId: 's-1', at: T0 + 1004, reason: 'completed' });

    await store.recordDecision(
      decision({
        statementId: 'st-2',
        at: T0 + 2000,
        text: 'SELECT * FROM customers',
        parameters: [],
        decision: 'deny',
        rule: null,
        reason: 'customers is not a trace table',
        sqlstate: '42501',
        decisionId: 'd-2',
        grantId: null,
        traceId: null,
      }),
    );
    const denied = store.openResponse({ sessionId: 's-1', statementId: 'st-2' });
    denied.add({
      type: 'ErrorResponse',
      fields: { severity: 'ERROR', code: '42501', message: 'denied (decision d-2): customers is not a trace table' },
    });
    denied.end({
      at: T0 + 2000,
      rows: 0,
      bytes: 0,
      durationMs: 0.1,
      commandTag: null,
      error: { sqlstate: '42501', message: 'denied (decision d-2)' },
    });
    store.recordSessionEnd({ sessionId: 's-1', at: T0 + 3000, reason: 'client-terminate' });
    await store.close();

    const reopened = await openSqliteStore({ path: dir.file('audit.db'), mustExist: true });
    const detail = await reopened.getSession('s-1');
    expect(detail).not.toBeNull();
    expect(detail?.session).toMatchObject({
      sessionId: 's-1',
      subject: 'agent-7',
      groups: ['ai-agents'],
      tokenJti: 'jti-1',
      clientAddress: '127.0.0.1:50000',
      applicationName: 'psql',
      tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
      mode: 'enforce',
      startedAt: T0,
      endedAt: T0 + 3000,
      endReason: 'client-terminate',
      statements: 2,
      denied: 1,
      traceIds: ['t-1'],
    });
    const [first, second] = detail?.statements ?? [];
    expect(first).toMatchObject({ statementId: 'st-1', decision: 'allow', grantId: 'g-1', parameters: ['t-1'] });
    expect(first?.completion).toMatchObject({ rows: 1, durationMs: 3.5, commandTag: 'SELECT 1' });
    expect(first?.response).toEqual([
      { type: 'RowDescription', fields: [textField('trace_id', 1), textField('user_email', 3)] },
      { type: 'DataRow', values: ['t-1', '[redacted:email]'] },
      { type: 'CommandComplete', tag: 'SELECT 1' },
    ]);
    expect(second).toMatchObject({ statementId: 'st-2', decision: 'deny', sqlstate: '42501' });
    expect(second?.response[0]).toMatchObject({ type: 'ErrorResponse', fields: { code: '42501' } });
    expect(detail?.grants).toEqual([{ ...grant(), revokedAt: T0 + 1004, revokeReason: 'completed' }]);

    expect(await reopened.listSessions({})).toHaveLength(1);
    expect(await reopened.listSessions({ subject: 'someone-else' })).toHaveLength(0);
    expect(await reopened.listSessions({ traceId: 't-1' })).toHaveLength(1);
    expect(await reopened.listSessions({ traceId: 't-2' })).toHaveLength(0);
    expect(await reopened.listSessions({ since: T0 + 1 })).toHaveLength(0);
    expect(await reopened.grantHistory({ traceId: 't-1' })).toHaveLength(1);
    expect((await reopened.verify()).ok).toBe(true);
    await reopened.close();
  });

  test('binary values survive as bytes and text columns as text', async () => {
    using dir = tempDir();
    const store = await openSqliteStore({ path: dir.file('audit.db') });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision());
    const rec = store.openResponse({ sessionId: 's-1', statementId: 'st-1' });
    const int4 = Buffer.from([0, 0, 0, 42]);
    rec.add({
      type: 'RowDescription',
      fields: [{ ...textField('n', 1), typeOid: 23, typeSize: 4, format: 1 }, textField('t', 2)],
    });
    rec.add({ type: 'DataRow', fields: [int4, Buffer.from([0xff, 0xfe])] });
    rec.add({ type: 'DataRow', fields: [null, text('ok')] });
    rec.end({ at: T0, rows: 2, bytes: 10, durationMs: 1, commandTag: 'SELECT 2', error: null });
    await store.flush();
    const st = (await store.getSession('s-1'))?.statements[0];
    // Invalid UTF-8 in a text column is kept as bytes rather than mangled.
    expect(st?.response[1]).toEqual({ type: 'DataRow', values: [int4, Buffer.from([0xff, 0xfe])] });
    expect(st?.response[2]).toEqual({ type: 'DataRow', values: [null, 'ok'] });
    await store.close();
  });

  test('caps the recorded response per statement and marks the truncation', async () => {
    using dir = tempDir();
    const store = await openSqliteStore({ path: dir.file('audit.db') });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision());
    const rec = store.openResponse({ sessionId: 's-1', statementId: 'st-1', capBytes: 1024 });
    rec.add({ type: 'RowDescription', fields: [textField('content', 1)] });
    const row = text('x'.repeat(100));
    for (let i = 0; i < 50; i++) rec.add({ type: 'DataRow', fields: [row] });
    rec.add({ type: 'ErrorResponse', fields: { severity: 'ERROR', code: '54000', message: 'result over maxRows' } });
    expect(rec.truncated).toBe(true);
    rec.end({ at: T0, rows: 50, bytes: 5000, durationMs: 1, commandTag: null, error: { sqlstate: '54000', message: 'x' } });
    await store.flush();
    const st = (await store.getSession('s-1'))?.statements[0];
    const rows = st?.response.filter((e) => e.type === 'DataRow') ?? [];
    // RowDescription is 7 + 7 + 19 = 33 bytes, each row 7 + 4 + 100 = 111: 8 rows fit in 1024.
    expect(rows).toHaveLength(8);
    expect(st?.response.at(-2)).toEqual({ type: 'Truncated', capBytes: 1024 });
    expect(st?.response.at(-1)).toMatchObject({ type: 'ErrorResponse', fields: { code: '54000' } });
    expect(st?.completion?.response).toEqual({
      // The ErrorResponse: 6 + (2 + 5) + (2 + 5) + (2 + 19) = 41 bytes.
      recordedBytes: 33 + 8 * 111 + 41,
      truncated: true,
      droppedRows: 42,
      droppedMessages: 0,
      droppedBytes: 42 * 111,
    });
    await store.close();
  });

  test('flush and close write batched records, including responses still streaming', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    // A long interval: only flush/close can have written what is found below.
    const store = await openSqliteStore({ path, flushIntervalMs: 60_000 });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision());
    const rec = store.openResponse({ sessionId: 's-1', statementId: 'st-1' });
    rec.add({ type: 'RowDescription', fields: [textField('a', 1)] });
    rec.add({ type: 'DataRow', fields: [text('first')] });
    const count = (): number => {
      const db = new Database(path, { readonly: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    // The durable records are in the journal (durable-journal.ts), not yet in the chain.
    expect(count()).toBe(0);
    expect(readFileSync(`${path}-durable-a`, 'utf8')).toContain('"st-1"');
    await store.flush();
    expect(count()).toBe(3);
    rec.add({ type: 'DataRow', fields: [text('second')] });
    rec.end({ at: T0, rows: 2, bytes: 20, durationMs: 1, commandTag: 'SELECT 2', error: null });
    store.recordGrantRevoked({ grantId: 'g-1', sessionId: 's-1', at: T0, reason: 'completed' });
    store.recordSessionEnd({ sessionId: 's-1', at: T0 + 1, reason: 'shutdown' });
    await store.close();
    expect(count()).toBe(6);

    const reopened = await openSqliteStore({ path });
    const st = (await reopened.getSession('s-1'))?.statements[0];
    expect(st?.response.filter((e) => e.type === 'DataRow')).toEqual([
      { type: 'DataRow', values: ['first'] },
      { type: 'DataRow', values: ['second'] },
    ]);
    expect((await reopened.verify()).ok).toBe(true);
    await reopened.close();
  });

  test('records that arrive while close is flushing are committed with the close, not dropped', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path, synchronous: 'FULL' });
    await store.recordSessionStart(sessionStart());
    const closing = store.close();
    // close() has handed its flush to the writer and waits for it: a statement ends and
    // a decision (waiting for the commit, as under synchronous FULL) arrives meanwhile.
    store.recordGrantRevoked({ grantId: 'g-late', sessionId: 's-1', at: T0, reason: 'completed' });
    const late = store.recordDecision(decision({ statementId: 'st-late' }));
    await closing;
    await expect(late).resolves.toBeUndefined();

    const db = new Database(path, { readonly: true });
    const bodies = (db.prepare('SELECT body FROM records ORDER BY seq').all() as { body: string }[]).map((r) => r.body);
    db.close();
    expect(bodies.some((b) => b.includes('"g-late"'))).toBe(true);
    expect(bodies.some((b) => b.includes('"st-late"'))).toBe(true);
    const reopened = await openSqliteStore({ path });
    expect((await reopened.verify()).ok).toBe(true);
    await reopened.close();
  });

  test('durable writes after close reject; the token never reaches a record', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path });
    await store.recordSessionStart(sessionStart());
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZ2VudC03In0.c2lnbmF0dXJlLWJ5dGVz';
    await store.recordDecision(decision({ text: `SELECT '${jwt}'`, parameters: [jwt, null] }));
    await store.close();
    await expect(store.recordDecision(decision())).rejects.toMatchObject({ name: 'AuditUnavailableError' });

    const db = new Database(path, { readonly: true });
    const bodies = db.prepare('SELECT body FROM records').all() as { body: string }[];
    db.close();
    const all = bodies.map((b) => b.body).join('\n');
    expect(all).not.toContain('eyJ');
    expect(all).toMatch(/\[jwt sha256:[0-9a-f]{64}\]/);
  });

  test('a lone surrogate in a subject or trace id does not make verify report the record altered', async () => {
    using dir = tempDir();
    const store = await openSqliteStore({ path: dir.file('audit.db') });
    // A `\ud800` escape in a token's claim or an API request's JSON parses to a lone surrogate.
    await store.recordSessionStart(sessionStart({ subject: 'agent-\ud800' }));
    await store.recordDecision(decision({ traceId: 't-\udfff' }));
    expect(await store.verify()).toMatchObject({ ok: true, checked: 2 });
    // The bodies keep the values as they came (escaped in their JSON).
    const detail = await store.getSession('s-1');
    expect(detail?.session.subject).toBe('agent-\ud800');
    expect(detail?.statements[0]?.traceId).toBe('t-\udfff');
    await store.close();
  });

  test('exports every record since a time as JSON lines whose hashes chain', async () => {
    using dir = tempDir();
    const store = await openSqliteStore({ path: dir.file('audit.db') });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision(), grant());
    await store.recordDecision(decision({ statementId: 'st-2', at: T0 + 9000 }));
    const lines = [];
    for await (const line of store.exportSince(T0 + 500)) lines.push(line);
    expect(lines.map((l) => [l.seq, l.kind])).toEqual([
      [2, 'statement'],
      [3, 'grant-issue'],
      [4, 'statement'],
    ]);
    expect(lines[1]?.prevHash).toBe(lines[0]?.hash);
    expect(lines[0]?.prevHash).toMatch(/^[0-9a-f]{64}$/);
    expect(lines[0]?.at).toBe(new Date(T0 + 1000).toISOString());
    await store.close();
  });
});
