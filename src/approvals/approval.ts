// The approval contract (SPEC section 4): what the statement gate asks for when a rule
// says a human must approve, what approvers see and do, and what every step emits.
// Implementations: ApprovalBroker (in memory, one instance); a Postgres-backed service
// shared by several instances implements the same ApprovalService later.
//
// An approval covers exactly ONE execution: the gate requests a new one for every
// execution that needs it, and an approved outcome is spent by that execution alone.
import type { ApprovalStep } from '../audit/store.js';
import type { Identity } from '../identity.js';

export interface ApprovalRequestInput {
  readonly sessionId: string;
  /** The recorded statement this approval is for, when the gate has one already. */
  readonly statementId?: string | null;
  readonly requester: Identity;
  readonly traceId: string;
  readonly rule: string;
  /** The SQL text to run; JWT-shaped substrings are scrubbed before anyone sees it. */
  readonly statement: string;
  /** Why the rule asks for approval, in words for the approver (e.g. "trace risk is high"). */
  readonly reason?: string;
  /** The rule's approver groups: an approver must be in at least one. */
  readonly approverGroups: readonly string[];
  /** Distinct approvers needed; 1 or more. */
  readonly quorum: number;
  readonly timeoutMs: number;
}

export type ApprovalOutcome =
  | { readonly kind: 'approved'; readonly approvers: readonly string[] }
  | { readonly kind: 'denied'; readonly by: string; readonly reason?: string }
  | { readonly kind: 'timed-out' }
  | { readonly kind: 'withdrawn'; readonly reason: string };

export const APPROVAL_STATES = ['pending', 'approved', 'denied', 'timed-out', 'withdrawn'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

export interface ApprovalVote {
  readonly by: string;
  readonly at: number;
  readonly reason: string | null;
}

/** Who cast a vote: the subject, and the jti of the token it was cast with. */
export interface Approver {
  readonly subject: string;
  readonly jti: string | undefined;
}

/** What approvers, the admin API and the web page see of a request. No token, no claims. */
export interface ApprovalView {
  readonly id: string;
  readonly state: ApprovalState;
  readonly sessionId: string;
  readonly statementId: string | null;
  readonly requester: { readonly subject: string; readonly groups: readonly string[] };
  readonly traceId: string;
  readonly rule: string;
  readonly statement: string;
  readonly reason: string | null;
  readonly approverGroups: readonly string[];
  readonly quorum: number;
  readonly approvals: readonly ApprovalVote[];
  readonly requestedAt: number;
  readonly expiresAt: number;
  /** Milliseconds since the request, at the time the view was taken. */
  readonly ageMs: number;
  readonly decidedAt: number | null;
  readonly outcome: ApprovalOutcome | null;
}

/** What the gate holds while the statement waits: the id for the notice, the outcome to await. */
export interface ApprovalTicket {
  readonly id: string;
  readonly expiresAt: number;
  /**
   * Settles once the request is recorded and approvers can see it, or rejects with the
   * store's error when it cannot be (then `outcome` rejects with it too). The waiting
   * client is told where to get it approved only after this: a reviewer who follows the
   * notice at once finds the request listed.
   */
  readonly listed: Promise<void>;
  readonly outcome: Promise<ApprovalOutcome>;
}

/**
 * For metrics, the webhook and logs; the durable record goes through ApprovalRecorder.
 * `pending` is the number of pending requests after the event (the metrics gauge).
 * `unrecorded`: a step the broker applied without recording it (a timeout or withdrawal
 * while the audit store was down): the statement still does not run, but the log must
 * say so.
 */
export type ApprovalEvent =
  | { readonly type: 'requested'; readonly approval: ApprovalView; readonly pending: number }
  | { readonly type: 'step'; readonly approval: ApprovalView; readonly by: string; readonly vote: 'approve' | 'deny'; readonly pending: number }
  | { readonly type: 'decided'; readonly approval: ApprovalView; readonly outcome: ApprovalOutcome; readonly pending: number }
  | { readonly type: 'unrecorded'; readonly approvalId: string; readonly step: ApprovalStep['step']['type']; readonly error: unknown };

/** Durable recording of each step; AuditStore satisfies it. Resolves once committed. */
export interface ApprovalRecorder {
  recordApprovalStep(step: ApprovalStep): Promise<void>;
}

export interface ApprovalService {
  /**
   * Returns at once, so the gate can send its notice. The request becomes visible to
   * approvers only once recorded; if it cannot be, `outcome` rejects with the store's
   * error (the gate answers 58030). Throws only for a malformed request.
   */
  request(input: ApprovalRequestInput): ApprovalTicket;
  approve(id: string, approver: Identity, reason?: string): Promise<ApprovalView>;
  deny(id: string, approver: Identity, reason?: string): Promise<ApprovalView>;
  /** The client disconnected or cancelled; false when the request was already settled. */
  withdraw(id: string, reason: string): Promise<boolean>;
  get(id: string): Promise<ApprovalView | undefined>;
  /** Pending requests, oldest first. */
  list(): Promise<readonly ApprovalView[]>;
  subscribe(listener: (event: ApprovalEvent) => void): () => void;
}
