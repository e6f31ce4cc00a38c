// Folds one session's chain records back into the view the admin API, `sessions show`
// and `sessions replay` present. Store-agnostic: any store hands over its rows for the
// session in chain order. It must not query anything itself.
import { ResponseDecoder } from './response-codec.js';
import { RecordKind } from './records.js';
import type {
  ApprovalStep,
  CredentialEvent,
  GrantIssue,
  GrantView,
  RecordedResponseEvent,
  ResponseSummary,
  SessionDetail,
  SessionStart,
  StatementCompletion,
  StatementDecision,
  StatementView,
} from './store.js';

/** A stored record as a reader sees it: chain position and parsed body. */
export interface StoredRecord {
  readonly seq: number;
  readonly kind: string;
  readonly at: number;
  readonly body: unknown;
}

interface MutableStatement {
  readonly seq: number;
  readonly decision: StatementDecision;
  completion: (StatementCompletion & { response: ResponseSummary }) | null;
  readonly response: RecordedResponseEvent[];
  readonly decoder: ResponseDecoder;
}

interface MutableGrant {
  readonly issue: GrantIssue;
  revokedAt: number | null;
  revokeReason: string | null;
}

/** Null when the session's start record is not in the store (never written, or pruned). */
export function foldSession(records: readonly StoredRecord[]): SessionDetail | null {
  let start: SessionStart | null = null;
  let end: { at: number; reason: string } | null = null;
  const statements = new Map<string, MutableStatement>();
  const grants = new Map<string, MutableGrant>();
  const approvals: ApprovalStep[] = [];
  const credentials: CredentialEvent[] = [];

  for (const r of records) {
    switch (r.kind) {
      case RecordKind.SessionStart:
        start = r.body as SessionStart;
        break;
      case RecordKind.SessionEnd: {
        const body = r.body as { at: number; reason: string };
        end = { at: body.at, reason: body.reason };
        break;
      }
      case RecordKind.Statement: {
        const decision = r.body as StatementDecision;
        statements.set(decision.statementId, { seq: r.seq, decision, completion: null, response: [], decoder: new ResponseDecoder() });
        break;
      }
      case RecordKind.Response: {
        const body = r.body as { statementId: string; events: unknown[] };
        const st = statements.get(body.statementId);
        if (st) for (const e of body.events) st.response.push(st.decoder.decode(e));
        break;
      }
      case RecordKind.StatementComplete: {
        const body = r.body as StatementCompletion & {
          statementId: string;
          response: ResponseSummary;
          events: unknown[];
        };
        const st = statements.get(body.statementId);
        if (st) {
          for (const e of body.events) st.response.push(st.decoder.decode(e));
          st.completion = completionOf(body);
        }
        break;
      }
      case RecordKind.GrantIssue: {
        const issue = r.body as GrantIssue;
        grants.set(issue.grantId, { issue, revokedAt: null, revokeReason: null });
        break;
      }
      case RecordKind.GrantRevoke: {
        const body = r.body as { grantId: string; at: number; reason: string };
        const g = grants.get(body.grantId);
        if (g) {
          g.revokedAt = body.at;
          g.revokeReason = body.reason;
        }
        break;
      }
      case RecordKind.Approval:
        approvals.push(r.body as ApprovalStep);
        break;
      case RecordKind.Credential:
        credentials.push(r.body as CredentialEvent);
        break;
      default:
        break;
    }
  }
  if (start === null) return null;

  const statementViews: StatementView[] = [...statements.values()].map((s) => ({
    ...s.decision,
    seq: s.seq,
    completion: s.completion,
    response: s.response,
  }));
  const grantViews: GrantView[] = [...grants.values()].map((g) => ({
    ...g.issue,
    revokedAt: g.revokedAt,
    revokeReason: g.revokeReason,
  }));
  const traceIds = [...new Set(statementViews.flatMap((s) => (s.traceId === null ? [] : [s.traceId])))];
  return {
    session: {
      sessionId: start.sessionId,
      subject: start.subject,
      groups: start.groups,
      clientAddress: start.clientAddress,
      applicationName: start.applicationName,
      mode: start.mode,
      startedAt: start.at,
      endedAt: end?.at ?? null,
      endReason: end?.reason ?? null,
      statements: statementViews.length,
      denied: statementViews.filter((s) => s.decision === 'deny').length,
      traceIds,
      tokenJti: start.tokenJti,
      tokenHash: start.tokenHash,
      tls: start.tls,
    },
    statements: statementViews,
    grants: grantViews,
    approvals,
    credentials,
  };
}

function completionOf(
  body: StatementCompletion & { response: ResponseSummary },
): StatementCompletion & { response: ResponseSummary } {
  return {
    at: body.at,
    rows: body.rows,
    bytes: body.bytes,
    durationMs: body.durationMs,
    commandTag: body.commandTag,
    error: body.error,
    response: body.response,
  };
}
