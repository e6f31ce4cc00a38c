// Test fixtures for the audit store: a temporary directory that removes itself, and
// builders for the records a session writes, with defaults a test overrides as needed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GrantIssue, SessionStart, StatementDecision } from '../../../src/audit/store.js';

export interface TempDir extends Disposable {
  readonly path: string;
  file(name: string): string;
}

export function tempDir(prefix = 'tracegate-audit-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    file: (name) => join(path, name),
    [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }),
  };
}

export const T0 = Date.parse('2025-03-01T12:00:00.000Z');

export function sessionStart(over: Partial<SessionStart> = {}): SessionStart {
  return {
    sessionId: 's-1',
    at: T0,
    subject: 'agent-7',
    groups: ['ai-agents'],
    tokenJti: 'jti-1',
    tokenHash: 'ab'.repeat(32),
    clientAddress: '127.0.0.1:50000',
    applicationName: 'psql',
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    mode: 'enforce',
    ...over,
  };
}

export function decision(over: Partial<StatementDecision> = {}): StatementDecision {
  return {
    statementId: 'st-1',
    sessionId: 's-1',
    at: T0 + 1000,
    text: 'SELECT trace_id, user_email FROM traces WHERE trace_id = $1',
    parameters: ['t-1'],
    decision: 'allow',
    enforced: true,
    rule: 'agents-read-own',
    reason: 'single trace t-1',
    sqlstate: null,
    decisionId: 'd-1',
    grantId: 'g-1',
    traceId: 't-1',
    approvalId: null,
    ...over,
  };
}

export function grant(over: Partial<GrantIssue> = {}): GrantIssue {
  return {
    grantId: 'g-1',
    sessionId: 's-1',
    statementId: 'st-1',
    subject: 'agent-7',
    traceId: 't-1',
    rule: 'agents-read-own',
    fingerprint: 'fp-1',
    issuedAt: T0 + 1000,
    expiresAt: T0 + 31_000,
    ttlMs: 30_000,
    ...over,
  };
}

export const text = (s: string): Buffer => Buffer.from(s, 'utf8');
