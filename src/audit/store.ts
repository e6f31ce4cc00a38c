// The audit store's contract: what the session, the admin API and the CLI record and read.
// Nothing here knows SQLite: a Postgres implementation shared by several proxy instances
// (SPEC section 11) implements the same interface. Ids are strings chosen by the caller
// (see ids.ts), timestamps are epoch milliseconds passed in, never read from a clock here.
//
// Two write paths:
// - durable (`recordSessionStart`, `recordDecision`, `recordGrantIssued`, approval steps,
//   admin actions, credential events): the promise resolves only once the record is
//   durable (committed, or written to the SQLite store's journal, which a start replays
//   into the chain), and rejects with AuditUnavailableError otherwise. Reads through the
//   store see every record whose promise resolved. The session forwards a statement only
//   after its decision resolved; on rejection it answers 58030.
// - batched (responses through a ResponseRecorder, grant revocations, session end): the
//   call returns at once and the record is written within a short interval. `flush()` and
//   `close()` write everything still pending, so a graceful shutdown loses nothing.
// It must not hold secrets: the token itself is never accepted, only its jti and hash.

export const DECISION_OUTCOMES = ['allow', 'deny', 'needs-approval'] as const;
export type DecisionOutcome = (typeof DECISION_OUTCOMES)[number];

export const SESSION_MODES = ['enforce', 'monitor'] as const;
export type SessionMode = (typeof SESSION_MODES)[number];

export interface TlsInfo {
  readonly protocol: string;
  readonly cipher: string | null;
}

export interface SessionStart {
  readonly sessionId: string;
  readonly at: number;
  readonly subject: string;
  readonly groups: readonly string[];
  readonly tokenJti: string | null;
  /** SHA-256 of the token, hex (Identity.tokenHash); never the token. */
  readonly tokenHash: string | null;
  readonly clientAddress: string;
  readonly applicationName: string | null;
  readonly tls: TlsInfo | null;
  readonly mode: SessionMode;
}

export interface SessionEnd {
  readonly sessionId: string;
  readonly at: number;
  /** e.g. client-terminate, client-disconnect, token-expired, revoked, protocol-error, shutdown */
  readonly reason: string;
}

export interface StatementDecision {
  readonly statementId: string;
  readonly sessionId: string;
  readonly at: number;
  /** The SQL text as received. JWT-shaped substrings are replaced by their SHA-256. */
  readonly text: string;
  /** Bound parameter values as text (null for SQL NULL); same JWT scrubbing as `text`. */
  readonly parameters: readonly (string | null)[];
  readonly decision: DecisionOutcome;
  /** False when `mode: monitor` let a denied statement run anyway. */
  readonly enforced: boolean;
  readonly rule: string | null;
  readonly reason: string;
  /** The SQLSTATE the client was answered with for a refusal, null when it ran. */
  readonly sqlstate: string | null;
  readonly decisionId: string;
  readonly grantId: string | null;
  readonly traceId: string | null;
  readonly approvalId: string | null;
}

export interface GrantIssue {
  readonly grantId: string;
  readonly sessionId: string;
  readonly statementId: string;
  readonly subject: string;
  readonly traceId: string;
  readonly rule: string;
  readonly fingerprint: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly ttlMs: number;
}

export interface GrantRevoke {
  readonly grantId: string;
  readonly sessionId: string;
  readonly at: number;
  /** completed, expired, cancelled, session-ended, admin */
  readonly reason: string;
}

export type ApprovalStepDetail =
  | {
      readonly type: 'requested';
      readonly subject: string;
      readonly traceId: string;
      readonly rule: string;
      readonly approverGroups: readonly string[];
      readonly quorum: number;
    }
  | { readonly type: 'approved'; readonly by: string }
  | { readonly type: 'denied'; readonly by: string; readonly reason: string | null }
  | { readonly type: 'withdrawn'; readonly reason: string | null }
  | { readonly type: 'timed-out' };

export interface ApprovalStep {
  readonly approvalId: string;
  readonly at: number;
  readonly sessionId: string | null;
  readonly statementId: string | null;
  readonly step: ApprovalStepDetail;
}

export type AdminActionDetail =
  | { readonly type: 'revoke-subject'; readonly subject: string }
  | { readonly type: 'revoke-session'; readonly sessionId: string }
  | { readonly type: 'revoke-jti'; readonly jti: string }
  | {
      readonly type: 'policy-reload';
      readonly policyHash: string | null;
      readonly ok: boolean;
      readonly error: string | null;
    };

export interface AdminAction {
  readonly actionId: string;
  readonly at: number;
  /** The admin's subject, or `cli` for a local command. */
  readonly actor: string;
  readonly reason: string | null;
  readonly action: AdminActionDetail;
}

export const CREDENTIAL_EVENT_TYPES = [
  'requested',
  'issued',
  'redeemed',
  'spent',
  'reuse-refused',
  'expired',
] as const;
export type CredentialEventType = (typeof CREDENTIAL_EVENT_TYPES)[number];

export interface CredentialEvent {
  readonly credentialId: string;
  readonly at: number;
  readonly type: CredentialEventType;
  readonly subject: string;
  readonly traceId: string;
  readonly sessionId: string | null;
  readonly expiresAt: number | null;
  readonly detail: string | null;
}

/** The fields of a RowDescription entry, as protocol/ decodes them. */
export interface ResponseField {
  readonly name: string;
  readonly tableOid: number;
  readonly columnNumber: number;
  readonly typeOid: number;
  readonly typeSize: number;
  readonly typeModifier: number;
  /** The format the client receives this column in (0 text, 1 binary). */
  readonly format: 0 | 1;
}

/** ErrorResponse / NoticeResponse fields, named as in protocol/error-fields.ts. */
export interface ResponseNoticeFields {
  readonly severity: string;
  readonly code: string;
  readonly message: string;
  readonly [field: string]: string | undefined;
}

/**
 * A backend message as the client received it (after masking). Shaped like protocol/'s
 * decoded BackendMessage, so the session can pass those through unchanged.
 */
export type ResponseMessage =
  | { readonly type: 'RowDescription'; readonly fields: readonly ResponseField[] }
  | { readonly type: 'DataRow'; readonly fields: readonly (Uint8Array | null)[] }
  /** A DataRow as its message body, exactly as sent (the frame after type and length). */
  | { readonly type: 'DataRow'; readonly body: Uint8Array }
  | { readonly type: 'CommandComplete'; readonly tag: string }
  | { readonly type: 'EmptyQueryResponse' }
  /** An Execute's row limit was reached: more rows remain in the portal. */
  | { readonly type: 'PortalSuspended' }
  | { readonly type: 'NoticeResponse'; readonly fields: ResponseNoticeFields }
  | { readonly type: 'ErrorResponse'; readonly fields: ResponseNoticeFields };

export interface StatementCompletion {
  readonly at: number;
  readonly rows: number;
  readonly bytes: number;
  readonly durationMs: number;
  readonly commandTag: string | null;
  readonly error: { readonly sqlstate: string; readonly message: string } | null;
}

/**
 * Captures one statement's response. `add` is synchronous and cheap (the hot path);
 * once the statement's recorded bytes pass the cap, rows and notices are dropped and the
 * truncation is marked, but an ErrorResponse is always kept.
 */
export interface ResponseRecorder {
  readonly statementId: string;
  readonly truncated: boolean;
  add(message: ResponseMessage): void;
  /** Ends the statement: the remaining response and the completion record are queued. */
  end(completion: StatementCompletion): void;
}

export interface ResponseRecorderOptions {
  readonly sessionId: string;
  readonly statementId: string;
  /** Bytes of response recorded per statement; default 256 KiB. */
  readonly capBytes?: number;
}

// ---- read side -------------------------------------------------------------------

export interface SessionSummary {
  readonly sessionId: string;
  readonly subject: string;
  readonly groups: readonly string[];
  readonly clientAddress: string;
  readonly applicationName: string | null;
  readonly mode: SessionMode;
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly endReason: string | null;
  readonly statements: number;
  readonly denied: number;
  readonly traceIds: readonly string[];
}

/** A value of a recorded DataRow: text for text-format columns, bytes otherwise. */
export type RecordedValue = string | Uint8Array | null;

export type RecordedResponseEvent =
  | { readonly type: 'RowDescription'; readonly fields: readonly ResponseField[] }
  | { readonly type: 'DataRow'; readonly values: readonly RecordedValue[] }
  | { readonly type: 'CommandComplete'; readonly tag: string }
  | { readonly type: 'EmptyQueryResponse' }
  | { readonly type: 'PortalSuspended' }
  | { readonly type: 'NoticeResponse'; readonly fields: ResponseNoticeFields }
  | { readonly type: 'ErrorResponse'; readonly fields: ResponseNoticeFields }
  | { readonly type: 'Truncated'; readonly capBytes: number };

export interface ResponseSummary {
  readonly recordedBytes: number;
  readonly truncated: boolean;
  readonly droppedRows: number;
  readonly droppedMessages: number;
  readonly droppedBytes: number;
}

export interface StatementView extends StatementDecision {
  readonly seq: number;
  readonly completion: (StatementCompletion & { readonly response: ResponseSummary }) | null;
  readonly response: readonly RecordedResponseEvent[];
}

export interface GrantView extends GrantIssue {
  readonly revokedAt: number | null;
  readonly revokeReason: string | null;
}

export interface SessionDetail {
  readonly session: SessionSummary & {
    readonly tokenJti: string | null;
    readonly tokenHash: string | null;
    readonly tls: TlsInfo | null;
  };
  readonly statements: readonly StatementView[];
  readonly grants: readonly GrantView[];
  readonly approvals: readonly ApprovalStep[];
  readonly credentials: readonly CredentialEvent[];
}

export interface SessionQuery {
  readonly subject?: string;
  readonly traceId?: string;
  /** Sessions started at or after this epoch ms. */
  readonly since?: number;
  /** Default 100. */
  readonly limit?: number;
}

export interface GrantQuery {
  readonly subject?: string;
  readonly traceId?: string;
  readonly sessionId?: string;
  readonly since?: number;
  readonly limit?: number;
}

/** One line of `audit export`: the record and its chain link, for a SIEM. */
export interface ExportLine {
  readonly seq: number;
  readonly kind: string;
  readonly at: string;
  readonly atMs: number;
  readonly sessionId: string | null;
  readonly ref: string | null;
  readonly subject: string | null;
  readonly traceId: string | null;
  readonly prevHash: string;
  readonly hash: string;
  readonly record: unknown;
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export type VerifyReport =
  | {
      readonly ok: true;
      readonly checked: number;
      /** Where verification started: the prune checkpoint, or the genesis (seq 0). */
      readonly from: ChainHead;
      /** The last record; anchor it elsewhere to detect removal of the newest records. */
      readonly head: ChainHead;
    }
  | {
      readonly ok: false;
      readonly checked: number;
      readonly from: ChainHead;
      readonly broken: BrokenLink;
    };

export interface BrokenLink {
  readonly seq: number;
  readonly kind: string;
  /**
   * `hash`: the record's content (or a predecessor's hash) was altered; `sequence`: a
   * record was removed or inserted before it; `checkpoint`: the prune checkpoint was moved
   * past what the latest prune record announced.
   */
  readonly problem: 'hash' | 'sequence' | 'checkpoint';
  readonly expected: string;
  readonly stored: string;
}

export interface PruneReport {
  readonly pruned: number;
  /** The new checkpoint (last pruned record), or null when nothing was old enough. */
  readonly checkpoint: ChainHead | null;
}

export interface AuditStore {
  recordSessionStart(start: SessionStart): Promise<void>;
  /** The decision and, when one was issued for it, the grant: committed together. */
  recordDecision(decision: StatementDecision, grant?: GrantIssue): Promise<void>;
  recordGrantIssued(grant: GrantIssue): Promise<void>;
  recordApprovalStep(step: ApprovalStep): Promise<void>;
  recordAdminAction(action: AdminAction): Promise<void>;
  recordCredentialEvent(event: CredentialEvent): Promise<void>;

  openResponse(options: ResponseRecorderOptions): ResponseRecorder;
  recordGrantRevoked(revoke: GrantRevoke): void;
  recordSessionEnd(end: SessionEnd): void;

  /** Writes everything queued (including open recorders' partial responses). */
  flush(): Promise<void>;
  /** flush(), then release the store; later writes reject with AuditUnavailableError. */
  close(): Promise<void>;

  listSessions(query: SessionQuery): Promise<SessionSummary[]>;
  getSession(sessionId: string): Promise<SessionDetail | null>;
  grantHistory(query: GrantQuery): Promise<GrantView[]>;
  exportSince(since: number): AsyncIterable<ExportLine>;
  verify(): Promise<VerifyReport>;
  /** Deletes the oldest records, those before `before` (epoch ms), keeping a checkpoint. */
  prune(before: number): Promise<PruneReport>;
}
