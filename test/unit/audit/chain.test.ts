import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../../../src/audit/canonical-json.js';
import { encodeMessage, encodeTruncation } from '../../../src/audit/response-codec.js';
import * as records from '../../../src/audit/records.js';
import { openSqliteStore, type SqliteAuditStore } from '../../../src/audit/sqlite-store.js';
import { decision, grant, sessionStart, T0, tempDir } from './helpers.js';

/** A store with `sessions` sessions of `perSession` decided statements each, 60 s apart. */
async function filledStore(path: string, sessions: number, perSession: number): Promise<SqliteAuditStore> {
  const store = await openSqliteStore({ path, now: () => T0 });
  for (let s = 0; s < sessions; s++) {
    const sessionId = `s-${s}`;
    const at = T0 + s * 60_000;
    await store.recordSessionStart(sessionStart({ sessionId, at }));
    for (let i = 0; i < perSession; i++) {
      const statementId = `st-${s}-${i}`;
      await store.recordDecision(
        decision({ sessionId, statementId, at: at + i + 1 }),
        grant({ sessionId, statementId, grantId: `g-${s}-${i}`, issuedAt: at + i + 1 }),
      );
    }
    store.recordSessionEnd({ sessionId, at: at + 50_000, reason: 'client-terminate' });
    await store.flush();
  }
  return store;
}

function tamper(path: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path);
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

describe('tamper-evident chain', () => {
  test('an intact store verifies and reports its head', async () => {
    using dir = tempDir();
    const store = await filledStore(dir.file('a.db'), 2, 3);
    const report = await store.verify();
    expect(report).toMatchObject({ ok: true, checked: 16, from: { seq: 0 }, head: { seq: 16 } });
    await store.close();
  });

  test('altering one stored row breaks the chain at exactly that record', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    await (await filledStore(path, 2, 3)).close();
    tamper(path, `UPDATE records SET body = replace(body, '"allow"', '"deny"') WHERE seq = 6`);
    const store = await openSqliteStore({ path });
    const report = await store.verify();
    expect(report.ok).toBe(false);
    if (!report.ok) {
      expect(report.broken).toMatchObject({ seq: 6, kind: 'statement', problem: 'hash' });
      expect(report.broken.expected).not.toBe(report.broken.stored);
      expect(report.checked).toBe(5);
    }
    await store.close();
  });

  test('altering an indexed column (moving a statement to another session) is detected', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    await (await filledStore(path, 2, 3)).close();
    tamper(path, `UPDATE records SET session_id = 's-1' WHERE seq = 4`);
    const store = await openSqliteStore({ path });
    expect(await store.verify()).toMatchObject({ ok: false, broken: { seq: 4, problem: 'hash' } });
    await store.close();
  });

  test('deleting a row in the middle is detected where the gap is', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    await (await filledStore(path, 2, 3)).close();
    tamper(path, 'DELETE FROM records WHERE seq = 5');
    const store = await openSqliteStore({ path });
    expect(await store.verify()).toMatchObject({
      ok: false,
      broken: { seq: 6, problem: 'sequence', expected: 'seq 5', stored: 'seq 6' },
    });
    await store.close();
  });

  test('deleting a row and renumbering the rest is detected at the renumbered record', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    await (await filledStore(path, 2, 3)).close();
    const db = new Database(path);
    db.prepare('DELETE FROM records WHERE seq = 5').run();
    db.prepare('UPDATE records SET seq = seq - 1 WHERE seq > 5').run();
    db.close();
    const store = await openSqliteStore({ path });
    expect(await store.verify()).toMatchObject({ ok: false, broken: { seq: 5, problem: 'hash' } });
    await store.close();
  });

  test('prune keeps the remaining chain verifiable, and a later tamper is still found', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    const store = await filledStore(path, 3, 2);
    // Sessions start at T0, T0+60s, T0+120s with 6 records each (start, 2x(statement,
    // grant), end): everything before T0+60s is the first 6 records.
    const report = await store.prune(T0 + 60_000);
    expect(report).toMatchObject({ pruned: 6, checkpoint: { seq: 6 } });
    const verified = await store.verify();
    expect(verified).toMatchObject({ ok: true, from: { seq: 6 }, checked: 13 });
    expect(await store.getSession('s-0')).toBeNull();
    expect((await store.getSession('s-1'))?.statements).toHaveLength(2);

    // New records after a prune continue the chain.
    await store.recordSessionStart(sessionStart({ sessionId: 's-9', at: T0 + 999_000 }));
    expect(await store.verify()).toMatchObject({ ok: true, checked: 14 });
    await store.close();

    tamper(path, `UPDATE records SET body = replace(body, 'agent-7', 'agent-8') WHERE seq = 7`);
    const reopened = await openSqliteStore({ path });
    expect(await reopened.verify()).toMatchObject({ ok: false, broken: { seq: 7, kind: 'session-start', problem: 'hash' } });
    await reopened.close();
  });

  test('a forged checkpoint hiding more than was pruned is detected', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    const store = await filledStore(path, 3, 2);
    await store.prune(T0 + 60_000);
    await store.close();
    // Remove the next session's records too and move the checkpoint to cover them: the
    // link from the checkpoint holds, but the prune record announced seq 6, not 12.
    const db = new Database(path);
    const row = db.prepare('SELECT hash FROM records WHERE seq = 12').get() as { hash: string };
    db.prepare('DELETE FROM records WHERE seq <= 12').run();
    db.prepare('UPDATE checkpoint SET seq = 12, hash = ?').run(row.hash);
    db.close();
    const reopened = await openSqliteStore({ path });
    expect(await reopened.verify()).toMatchObject({ ok: false, broken: { kind: 'checkpoint', problem: 'checkpoint' } });
    await reopened.close();
  });

  // A row the walk never reaches, but the session views read: a forged statement below
  // the chain's first seq, or re-inserted at a seq a prune removed.
  function forge(path: string, seq: number, sessionId: string): void {
    const r = records.statementRecord(decision({ sessionId, statementId: 'st-forged', text: 'SELECT * FROM customers', at: T0 + 1 }));
    tamper(
      path,
      'INSERT INTO records (seq, kind, at, session_id, ref, subject, trace_id, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      seq,
      r.kind,
      r.at,
      r.sessionId,
      r.ref,
      r.subject,
      r.traceId,
      r.body,
      'f'.repeat(64),
    );
  }

  test('a record stored before the first seq is a broken link, not a silent addition', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    await (await filledStore(path, 1, 2)).close();
    forge(path, 0, 's-0');
    const store = await openSqliteStore({ path });
    expect((await store.getSession('s-0'))?.statements.map((st) => st.text)).toContain('SELECT * FROM customers');
    expect(await store.verify()).toMatchObject({ ok: false, broken: { seq: 0, kind: 'statement', problem: 'sequence', expected: 'the first record at seq 1' } });
    await store.close();
  });

  test('a record re-inserted at a pruned seq is a broken link', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    const store = await filledStore(path, 3, 2);
    await store.prune(T0 + 60_000);
    await store.close();
    forge(path, 3, 's-1');
    const reopened = await openSqliteStore({ path });
    expect((await reopened.getSession('s-1'))?.statements.map((st) => st.text)).toContain('SELECT * FROM customers');
    expect(await reopened.verify()).toMatchObject({ ok: false, broken: { seq: 3, problem: 'sequence', expected: "no record at or before the checkpoint's seq 6" } });
    await reopened.close();
  });

  test('an altered checkpoint hash breaks the link of the record after it', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    const store = await filledStore(path, 3, 2);
    await store.prune(T0 + 60_000);
    await store.close();
    tamper(path, `UPDATE checkpoint SET hash = ?`, 'f'.repeat(64));
    const reopened = await openSqliteStore({ path });
    expect(await reopened.verify()).toMatchObject({ ok: false, broken: { seq: 7, problem: 'hash' } });
    await reopened.close();
  });

  test('pruning a large prefix works in batches and stays verifiable', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    const store = await openSqliteStore({ path });
    await store.recordSessionStart(sessionStart());
    const pending = [];
    for (let i = 0; i < 12_000; i++) pending.push(store.recordDecision(decision({ statementId: `st-${i}`, at: T0 + i })));
    await Promise.all(pending);
    expect(await store.prune(T0 + 11_000)).toMatchObject({ pruned: 11_001, checkpoint: { seq: 11_001 } });
    expect(await store.verify()).toMatchObject({ ok: true, from: { seq: 11_001 } });
    await store.close();
  });
});

describe('record bodies', () => {
  const str = fc.string();
  const opt = fc.option(fc.string(), { nil: null });
  const int = fc.integer({ min: 0, max: 2 ** 47 });
  test('every builder writes canonical JSON, so an export can be re-hashed', () => {
    fc.assert(
      fc.property(str, opt, opt, int, fc.array(fc.option(str, { nil: null })), (a, b, c, n, params) => {
        const built = [
          records.sessionStartRecord(
            sessionStart({ sessionId: a, applicationName: b, tokenJti: c, at: n, tls: { protocol: a, cipher: b } }),
          ),
          records.sessionStartRecord(sessionStart({ tls: null })),
          records.sessionEndRecord({ sessionId: a, at: n, reason: a }),
          records.statementRecord(decision({ text: a, parameters: params, rule: b, approvalId: c, at: n })),
          records.grantIssueRecord(grant({ grantId: a, fingerprint: a, issuedAt: n })),
          records.grantRevokeRecord({ grantId: a, sessionId: a, at: n, reason: a }),
          records.statementCompleteRecord(
            a,
            a,
            { at: n, rows: n, bytes: n, durationMs: 1.5, commandTag: b, error: { sqlstate: a, message: a } },
            { recordedBytes: n, truncated: true, droppedRows: 1, droppedMessages: 2, droppedBytes: 3 },
            n,
            [
              encodeMessage({ type: 'DataRow', fields: [Buffer.from(a), null] }),
              encodeMessage({ type: 'CommandComplete', tag: a }),
            ],
          ),
          records.responseChunkRecord(a, a, n, n, [encodeMessage({ type: 'EmptyQueryResponse' }), encodeTruncation(n)]),
          records.approvalRecord({
            approvalId: a,
            at: n,
            sessionId: b,
            statementId: c,
            step: { type: 'requested', subject: a, traceId: a, rule: a, approverGroups: [a], quorum: 2 },
          }),
          records.approvalRecord({ approvalId: a, at: n, sessionId: null, statementId: null, step: { type: 'approved', by: a } }),
          records.approvalRecord({ approvalId: a, at: n, sessionId: null, statementId: null, step: { type: 'denied', by: a, reason: b } }),
          records.approvalRecord({ approvalId: a, at: n, sessionId: null, statementId: null, step: { type: 'withdrawn', reason: b } }),
          records.approvalRecord({ approvalId: a, at: n, sessionId: null, statementId: null, step: { type: 'timed-out' } }),
          records.adminRecord({ actionId: a, at: n, actor: a, reason: b, action: { type: 'revoke-subject', subject: a } }),
          records.adminRecord({ actionId: a, at: n, actor: a, reason: b, action: { type: 'revoke-session', sessionId: a } }),
          records.adminRecord({ actionId: a, at: n, actor: a, reason: b, action: { type: 'revoke-jti', jti: a } }),
          records.adminRecord({
            actionId: a,
            at: n,
            actor: a,
            reason: b,
            action: { type: 'policy-reload', policyHash: b, ok: false, error: c },
          }),
          records.credentialRecord({
            credentialId: a,
            at: n,
            type: 'issued',
            subject: a,
            traceId: a,
            sessionId: b,
            expiresAt: n,
            detail: c,
          }),
          records.pruneRecord(n, { seq: n, hash: a }, n, n),
        ];
        for (const r of built) expect(canonicalJson(JSON.parse(r.body))).toBe(r.body);
      }),
      { numRuns: 200 },
    );
  });

  test('response events (fields, notices) are canonical too', async () => {
    using dir = tempDir();
    const path = dir.file('a.db');
    const store = await openSqliteStore({ path });
    const rec = store.openResponse({ sessionId: 's', statementId: 'st' });
    rec.add({
      type: 'RowDescription',
      fields: [{ name: 'a', tableOid: 1, columnNumber: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 1 }],
    });
    rec.add({ type: 'DataRow', fields: [Buffer.from([0, 0, 0, 1])] });
    rec.add({ type: 'NoticeResponse', fields: { severity: 'NOTICE', message: 'm', code: '00000', hint: 'h' } });
    rec.end({ at: T0, rows: 1, bytes: 4, durationMs: 1, commandTag: 'SELECT 1', error: null });
    await store.close();
    const db = new Database(path, { readonly: true });
    const bodies = db.prepare('SELECT body FROM records').all() as { body: string }[];
    db.close();
    for (const { body } of bodies) expect(canonicalJson(JSON.parse(body))).toBe(body);
  });
});
