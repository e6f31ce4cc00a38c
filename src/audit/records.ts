// Turns what the session records into chain records: the kind, the indexed columns and
// a canonical JSON body. Each builder copies the fields it knows one by one, so a caller
// object that carries more (a token, an identity's claims) never leaks into the store.
// It must not touch a database: the same records go to any AuditStore implementation.
//
// Bodies are canonical by construction: every object literal below lists its keys in
// sorted order, so plain JSON.stringify (native, about 2.5x faster than canonicalJson on
// the per-statement path) yields the canonical form, and response events (already JSON
// text, response-codec.ts) are spliced in where their key sorts; a property test holds
// that canonicalJson(JSON.parse(body)) === body for every builder.
import type {
  AdminAction,
  AdminActionDetail,
  ApprovalStep,
  ApprovalStepDetail,
  CredentialEvent,
  GrantIssue,
  GrantRevoke,
  SessionEnd,
  SessionStart,
  StatementCompletion,
  StatementDecision,
  ResponseSummary,
} from './store.js';
import type { EncodedEvent } from './response-codec.js';
import { scrubTokens } from './token-scrub.js';

export const RecordKind = {
  SessionStart: 'session-start',
  SessionEnd: 'session-end',
  Statement: 'statement',
  StatementComplete: 'statement-complete',
  Response: 'response',
  GrantIssue: 'grant-issue',
  GrantRevoke: 'grant-revoke',
  Approval: 'approval',
  Admin: 'admin',
  Credential: 'credential',
  Prune: 'prune',
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** A record before the store gives it a seq and a hash. */
export interface PendingRecord {
  readonly kind: RecordKind;
  readonly at: number;
  readonly sessionId: string | null;
  /** The id the record is about: statement, grant, approval, action or credential. */
  readonly ref: string | null;
  readonly subject: string | null;
  readonly traceId: string | null;
  readonly body: string;
}

const json = JSON.stringify;

/**
 * The stores keep text as UTF-8, where a lone surrogate (a `\ud800` escape in a token's
 * claim or an API request's JSON) is stored as U+FFFD while the hash covered the original,
 * so `verify` would find the record altered: one request could raise a false tamper
 * alarm, and hide a real one behind it. The indexed columns are made well-formed before
 * they are hashed; bodies are JSON.stringify's text, which escapes lone surrogates.
 */
function wellFormed(r: PendingRecord): PendingRecord {
  const ok = (v: string | null): boolean => v === null || v.isWellFormed();
  if (ok(r.sessionId) && ok(r.ref) && ok(r.subject) && ok(r.traceId)) return r;
  const fix = (v: string | null): string | null => (v === null ? null : v.toWellFormed());
  return { ...r, sessionId: fix(r.sessionId), ref: fix(r.ref), subject: fix(r.subject), traceId: fix(r.traceId) };
}

export function sessionStartRecord(s: SessionStart): PendingRecord {
  return wellFormed({
    kind: RecordKind.SessionStart,
    at: s.at,
    sessionId: s.sessionId,
    ref: null,
    subject: s.subject,
    traceId: null,
    body: json({
      applicationName: s.applicationName,
      at: s.at,
      clientAddress: s.clientAddress,
      groups: [...s.groups],
      mode: s.mode,
      sessionId: s.sessionId,
      subject: s.subject,
      tls: s.tls === null ? null : { cipher: s.tls.cipher, protocol: s.tls.protocol },
      tokenHash: s.tokenHash,
      tokenJti: s.tokenJti,
    }),
  });
}

export function sessionEndRecord(e: SessionEnd): PendingRecord {
  return wellFormed({
    kind: RecordKind.SessionEnd,
    at: e.at,
    sessionId: e.sessionId,
    ref: null,
    subject: null,
    traceId: null,
    body: json({ at: e.at, reason: e.reason, sessionId: e.sessionId }),
  });
}

export function statementRecord(d: StatementDecision): PendingRecord {
  return wellFormed({
    kind: RecordKind.Statement,
    at: d.at,
    sessionId: d.sessionId,
    ref: d.statementId,
    subject: null,
    traceId: d.traceId,
    body: json({
      approvalId: d.approvalId,
      at: d.at,
      decision: d.decision,
      decisionId: d.decisionId,
      enforced: d.enforced,
      grantId: d.grantId,
      parameters: d.parameters.map((p) => (p === null ? null : scrubTokens(p))),
      reason: scrubTokens(d.reason),
      rule: d.rule,
      sessionId: d.sessionId,
      sqlstate: d.sqlstate,
      statementId: d.statementId,
      text: scrubTokens(d.text),
      traceId: d.traceId,
    }),
  });
}

/**
 * The statement's end: its completion, the response summary, and the response events
 * not yet written in an earlier `response` chunk (as chunk number `chunk`), so that a
 * short statement costs one record, not two.
 */
export function statementCompleteRecord(
  sessionId: string,
  statementId: string,
  c: StatementCompletion,
  response: ResponseSummary,
  chunk: number,
  events: readonly EncodedEvent[],
): PendingRecord {
  const head = json({
    at: c.at,
    bytes: c.bytes,
    chunk,
    commandTag: c.commandTag,
    durationMs: c.durationMs,
    error: c.error === null ? null : { message: scrubTokens(c.error.message), sqlstate: c.error.sqlstate },
  });
  const tail = json({
    response: {
      droppedBytes: response.droppedBytes,
      droppedMessages: response.droppedMessages,
      droppedRows: response.droppedRows,
      recordedBytes: response.recordedBytes,
      truncated: response.truncated,
    },
    rows: c.rows,
    sessionId,
    statementId,
  });
  return wellFormed({
    kind: RecordKind.StatementComplete,
    at: c.at,
    sessionId,
    ref: statementId,
    subject: null,
    traceId: null,
    // `events` sorts between `error` and `response`: spliced in as JSON text.
    body: `${head.slice(0, -1)},"events":[${events.join(',')}],${tail.slice(1)}`,
  });
}

export function responseChunkRecord(
  sessionId: string,
  statementId: string,
  at: number,
  chunk: number,
  events: readonly EncodedEvent[],
): PendingRecord {
  return wellFormed({
    kind: RecordKind.Response,
    at,
    sessionId,
    ref: statementId,
    subject: null,
    traceId: null,
    body: `{"chunk":${json(chunk)},"events":[${events.join(',')}],"statementId":${json(statementId)}}`,
  });
}

export function grantIssueRecord(g: GrantIssue): PendingRecord {
  return wellFormed({
    kind: RecordKind.GrantIssue,
    at: g.issuedAt,
    sessionId: g.sessionId,
    ref: g.grantId,
    subject: g.subject,
    traceId: g.traceId,
    body: json({
      expiresAt: g.expiresAt,
      fingerprint: g.fingerprint,
      grantId: g.grantId,
      issuedAt: g.issuedAt,
      rule: g.rule,
      sessionId: g.sessionId,
      statementId: g.statementId,
      subject: g.subject,
      traceId: g.traceId,
      ttlMs: g.ttlMs,
    }),
  });
}

export function grantRevokeRecord(r: GrantRevoke): PendingRecord {
  return wellFormed({
    kind: RecordKind.GrantRevoke,
    at: r.at,
    sessionId: r.sessionId,
    ref: r.grantId,
    subject: null,
    traceId: null,
    body: json({ at: r.at, grantId: r.grantId, reason: r.reason, sessionId: r.sessionId }),
  });
}

export function approvalRecord(a: ApprovalStep): PendingRecord {
  const step = a.step;
  return wellFormed({
    kind: RecordKind.Approval,
    at: a.at,
    sessionId: a.sessionId,
    ref: a.approvalId,
    subject: step.type === 'requested' ? step.subject : null,
    traceId: step.type === 'requested' ? step.traceId : null,
    body: json({
      approvalId: a.approvalId,
      at: a.at,
      sessionId: a.sessionId,
      statementId: a.statementId,
      step: approvalStepBody(step),
    }),
  });
}

function approvalStepBody(step: ApprovalStepDetail): Record<string, unknown> {
  switch (step.type) {
    case 'requested':
      return {
        approverGroups: [...step.approverGroups],
        quorum: step.quorum,
        rule: step.rule,
        subject: step.subject,
        traceId: step.traceId,
        type: step.type,
      };
    case 'approved':
      return { by: step.by, type: step.type };
    case 'denied':
      return { by: step.by, reason: step.reason, type: step.type };
    case 'withdrawn':
      return { reason: step.reason, type: step.type };
    case 'timed-out':
      return { type: step.type };
    default:
      return assertNever(step);
  }
}

export function adminRecord(a: AdminAction): PendingRecord {
  return wellFormed({
    kind: RecordKind.Admin,
    at: a.at,
    sessionId: a.action.type === 'revoke-session' ? a.action.sessionId : null,
    ref: a.actionId,
    subject: a.action.type === 'revoke-subject' ? a.action.subject : null,
    traceId: null,
    body: json({
      action: adminActionBody(a.action),
      actionId: a.actionId,
      actor: a.actor,
      at: a.at,
      reason: a.reason,
    }),
  });
}

function adminActionBody(action: AdminActionDetail): Record<string, unknown> {
  switch (action.type) {
    case 'revoke-subject':
      return { subject: action.subject, type: action.type };
    case 'revoke-session':
      return { sessionId: action.sessionId, type: action.type };
    case 'revoke-jti':
      return { jti: action.jti, type: action.type };
    case 'policy-reload':
      return { error: action.error, ok: action.ok, policyHash: action.policyHash, type: action.type };
    default:
      return assertNever(action);
  }
}

export function credentialRecord(c: CredentialEvent): PendingRecord {
  return wellFormed({
    kind: RecordKind.Credential,
    at: c.at,
    sessionId: c.sessionId,
    ref: c.credentialId,
    subject: c.subject,
    traceId: c.traceId,
    body: json({
      at: c.at,
      credentialId: c.credentialId,
      detail: c.detail === null ? null : scrubTokens(c.detail),
      expiresAt: c.expiresAt,
      sessionId: c.sessionId,
      subject: c.subject,
      traceId: c.traceId,
      type: c.type,
    }),
  });
}

export function pruneRecord(at: number, checkpoint: { seq: number; hash: string }, pruned: number, before: number): PendingRecord {
  return wellFormed({
    kind: RecordKind.Prune,
    at,
    sessionId: null,
    ref: null,
    subject: null,
    traceId: null,
    body: json({ at, before, checkpoint: { hash: checkpoint.hash, seq: checkpoint.seq }, pruned }),
  });
}

function assertNever(value: never): never {
  throw new TypeError(`unexpected record detail ${JSON.stringify(value)}`);
}
