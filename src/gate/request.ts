// One admitted request on its way through the upstream: a simple Query message (one or
// more statements) or one Execute. It holds the request's grant, applies masking and
// the row/byte limits to what comes back, records the response as the client saw it,
// and revokes the grant the moment the request completes.
import { decodeBackend, encode, type ErrorFields, type FieldDescription } from '../../protocol/index.js';
import type { ResponseRecorder } from '../audit/store.js';
import type { GrantRegistry, GrantRevokeReason } from '../grants/grant-registry.js';
import type { Masker, ResultMasker } from '../masking/masker.js';
import type { Execution, Outcome, SessionControls } from '../session/statement-gate.js';
import type { StatementFacts } from '../sql/facts.js';
import type { ResultPlans } from './result-plans.js';

export interface Limits {
  readonly maxRows: number;
  readonly maxBytes: number;
}

export interface RequestDeps {
  readonly masker: Masker;
  /** The session's masking plans, through the shared column catalog. */
  readonly plans: ResultPlans;
  readonly grants: GrantRegistry;
  readonly controls: SessionControls;
  readonly now: () => number;
  readonly onComplete: (outcome: RequestOutcome) => void;
}

export interface RequestOutcome {
  readonly rows: number;
  readonly bytes: number;
  readonly durationMs: number;
  readonly error: { readonly code: string; readonly message: string } | null;
}

type Cutoff = { readonly code: '54000' | '57014'; readonly message: string };

/**
 * Rows and bytes counted against the limits. One result may span several requests: an
 * Execute with a row limit suspends its portal, and the next Execute of that portal
 * resumes the same result, so the portal's requests share one count (the limits bound
 * the result, not each page of it).
 */
export interface Usage {
  rows: number;
  bytes: number;
}

export class Request {
  private rows = 0;
  private bytes = 0;
  private cutoff: Cutoff | null = null;
  private pending: number;
  private error: { code: string; message: string } | null = null;
  private tag: string | null = null;
  private readonly startedAt: number;
  private done = false;
  /** Why nothing of the response reaches the client (Execution.withhold), or null. */
  private withheld: string | null = null;

  constructor(
    private readonly deps: RequestDeps,
    readonly id: string,
    private readonly recorder: ResponseRecorder,
    private readonly limits: Limits,
    private readonly maskingExempt: boolean,
    readonly grantId: string | null,
    executions: number,
    private readonly usage: Usage = { rows: 0, bytes: 0 },
  ) {
    this.pending = Math.max(1, executions);
    this.startedAt = deps.now();
  }

  /** One Execution per statement the upstream will answer for this request. */
  executions(statements: readonly StatementFacts[] | number): Execution[] {
    if (typeof statements === 'number') return Array.from({ length: Math.max(0, statements) }, () => new RequestExecution(this, undefined));
    return statements.map((s) => new RequestExecution(this, deallocates(s)));
  }

  /** The grant's TTL ran out while the statement was still running. */
  expire(): void {
    if (this.cutoff) return;
    this.cutoff = { code: '57014', message: `canceling statement: its grant expired before it completed (request ${this.id})` };
    this.deps.controls.cancelUpstream();
  }

  /** @internal */ withhold(reason: string): void {
    this.withheld ??= reason;
  }

  /** @internal Synchronous unless the catalog must be asked about a table first. */
  describe(fields: readonly FieldDescription[] | null): ResultMasker | null | Promise<ResultMasker | null> {
    if (!fields || this.withheld) return null;
    this.recorder.add({ type: 'RowDescription', fields });
    if (this.maskingExempt) return null;
    return this.deps.plans.plan(fields, this.deps.masker);
  }

  /** @internal */ row(frame: Buffer, masker: ResultMasker | null): Buffer | null {
    if (this.cutoff || this.withheld) return null;
    this.rows++;
    this.bytes += frame.length;
    const usage = this.usage;
    usage.rows++;
    usage.bytes += frame.length;
    if (usage.rows > this.limits.maxRows || usage.bytes > this.limits.maxBytes) {
      const which = usage.rows > this.limits.maxRows ? `more than ${this.limits.maxRows} rows` : `more than ${this.limits.maxBytes} bytes`;
      this.cutoff = { code: '54000', message: `result exceeds the policy limit: ${which} (request ${this.id}); narrow the query or add LIMIT` };
      this.deps.controls.cancelUpstream();
      return null;
    }
    const out = masker ? masker.maskDataRow(frame) : frame;
    // Recorded as the body the client gets: the frame after its type byte and length.
    if (!this.recorder.truncated) this.recorder.add({ type: 'DataRow', body: out.subarray(5) });
    return out;
  }

  /** @internal */ notice(frame: Buffer): Buffer {
    return this.maskedMessage(frame).frame;
  }

  /** A notice or error as the client gets it (masked, recorded), with its fields; null fields if it is neither. */
  private maskedMessage(frame: Buffer): { frame: Buffer; fields: ErrorFields | null } {
    if (this.withheld) return { frame, fields: null };
    const msg = decodeBackend({ code: frame[0] ?? 0, raw: frame });
    if (msg.type !== 'NoticeResponse' && msg.type !== 'ErrorResponse') return { frame, fields: null };
    const fields = this.maskingExempt ? msg.fields : this.deps.masker.maskErrorFields(msg.fields);
    this.recorder.add({ type: msg.type, fields });
    if (fields === msg.fields) return { frame, fields };
    return { frame: msg.type === 'NoticeResponse' ? encode.noticeResponse(fields) : encode.errorResponse(fields), fields };
  }

  /** @internal */ complete(frame: Buffer, outcome: Outcome): Buffer {
    let out: Buffer;
    if (this.withheld) {
      this.error ??= { code: '08006', message: this.withheld };
      out = frame;
    } else if (this.cutoff) {
      // Whatever the upstream said (done, or cancelled by us), the client must not take
      // a cut-off result for a whole one.
      const fields = { severity: 'ERROR', code: this.cutoff.code, message: this.cutoff.message };
      this.recorder.add({ type: 'ErrorResponse', fields });
      this.error = { code: this.cutoff.code, message: this.cutoff.message };
      out = encode.errorResponse(fields);
      this.pending = 1;
    } else if (outcome.error) {
      const masked = this.maskedMessage(frame);
      // The completion keeps the message as the client got it: an error may echo a value.
      this.error = { code: outcome.error.code, message: masked.fields?.message ?? outcome.error.message };
      out = masked.frame;
    } else {
      if (outcome.tag !== undefined) {
        this.tag = outcome.tag;
        this.recorder.add({ type: 'CommandComplete', tag: outcome.tag });
      } else {
        this.recorder.add({ type: outcome.suspended ? 'PortalSuspended' : 'EmptyQueryResponse' });
      }
      out = frame;
    }
    this.settle();
    return out;
  }

  /** @internal */ abandon(reason: string): void {
    this.error ??= { code: '08006', message: reason };
    this.settle();
  }

  private settle(): void {
    if (this.done || --this.pending > 0) return;
    this.done = true;
    const reason: GrantRevokeReason = this.cutoff?.code === '57014' ? 'expired' : this.error ? 'error' : 'completed';
    if (this.grantId) this.deps.grants.revoke(this.grantId, reason);
    const outcome: RequestOutcome = { rows: this.rows, bytes: this.bytes, durationMs: this.deps.now() - this.startedAt, error: this.error };
    this.recorder.end({
      at: this.deps.now(),
      rows: this.rows,
      bytes: this.bytes,
      durationMs: outcome.durationMs,
      commandTag: this.tag,
      error: this.error && { sqlstate: this.error.code, message: this.error.message },
    });
    this.deps.onComplete(outcome);
  }
}

/** One statement's view of its request: its own result shape and masking plan. */
class RequestExecution implements Execution {
  private masker: ResultMasker | null = null;

  constructor(
    private readonly request: Request,
    readonly deallocates: string | null | undefined,
  ) {}

  describe(fields: readonly FieldDescription[] | null): Promise<void> | void {
    const planned = this.request.describe(fields);
    if (!(planned instanceof Promise)) {
      this.masker = planned;
      return;
    }
    return planned.then((m) => {
      this.masker = m;
    });
  }

  row(frame: Buffer): Buffer | null {
    return this.request.row(frame, this.masker);
  }

  message(frame: Buffer): Buffer {
    return this.request.notice(frame);
  }

  complete(frame: Buffer, outcome: Outcome): Buffer {
    return this.request.complete(frame, outcome);
  }

  abandon(reason: string): void {
    this.request.abandon(reason);
  }

  withhold(reason: string): void {
    this.request.withhold(reason);
  }
}

function deallocates(s: StatementFacts): string | null | undefined {
  if (s.kind === 'deallocate') return s.name;
  if (s.kind === 'discard' && s.target === 'all') return null;
  return undefined;
}
