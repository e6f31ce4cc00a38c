// What the relay asks before anything reaches the upstream, and what it reports as
// results flow back. The policy, grants, masking and recording implement this; the
// relay itself knows none of them. Every method may throw a ClientError (a denial):
// the relay turns it into an ErrorResponse in protocol order and forwards nothing.
import type { FieldDescription } from '../../protocol/index.js';

/** One execution the upstream will run: a statement of a Query message, or an Execute. */
export interface Execution {
  /** Called with the RowDescription the rows will be shaped by (null when none applies). */
  describe(fields: readonly FieldDescription[] | null): void | Promise<void>;
  /**
   * Each DataRow frame on its way to the client; returns the frame to send (masked), or
   * null to withhold it (a limit was exceeded: the execution will end in an error).
   */
  row(frame: Buffer): Buffer | null;
  /** Notices on their way to the client: may rewrite the frame (masking). */
  message(frame: Buffer): Buffer;
  /**
   * CommandComplete / EmptyQueryResponse / PortalSuspended / ErrorResponse ended it.
   * Returns the frame the client gets instead: an ErrorResponse when the execution must
   * fail after all (over a limit, grant expired), so a cut-off result never looks whole.
   */
  complete(frame: Buffer, outcome: Outcome): Buffer;
  /** It never ran or never finished (an earlier statement failed, the session ended). */
  abandon(reason: string): void;
  /**
   * It runs upstream, but nothing it answers reaches the client (an earlier message of
   * the same pipeline was turned into an error): none of it may be recorded as sent.
   */
  withhold(reason: string): void;
  /**
   * Prepared statements this statement drops upstream when it succeeds (DEALLOCATE name,
   * DEALLOCATE ALL / DISCARD ALL as null), so the relay forgets them too.
   */
  readonly deallocates?: string | null | undefined;
}

export interface Outcome {
  readonly tag?: string | undefined;
  /** PortalSuspended: the Execute's row limit was reached, more rows remain. */
  readonly suspended?: boolean;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

/** What a gate may do to its session while a statement is pending or running. */
export interface SessionControls {
  /**
   * Cancels whatever the upstream is running for this session (a CancelRequest). Until
   * the upstream has taken the cancel, no further client message is forwarded, so the
   * cancel cannot hit the client's next statement instead.
   */
  cancelUpstream(): void;
  /** Sends a NoticeResponse now, out of band (allowed at any time by the protocol). */
  notice(message: string, detail?: string): void;
}

export interface PreparedStatement {
  readonly name: string;
  readonly sql: string;
  readonly paramTypes: readonly number[];
  /** Whatever the gate attached at Parse (the analysis), handed back at Bind. */
  readonly analysis: unknown;
}

export interface BoundPortal {
  readonly name: string;
  readonly statement: PreparedStatement;
  readonly params: readonly (Buffer | null)[];
  readonly paramFormats: readonly number[];
  readonly resultFormats: readonly number[];
  /** Whatever the gate decided at Bind, handed back at Execute. */
  readonly decision: unknown;
}

export interface StatementGate {
  /** A simple Query message (possibly several statements), decided as a whole. */
  query(sql: string): Promise<Execution[]> | Execution[];
  /** Parse: analyse once; the result is stored with the prepared statement. */
  parse(name: string, sql: string, paramTypes: readonly number[]): Promise<unknown> | unknown;
  /** Bind: the decision completes here, with parameter values. */
  bind(statement: PreparedStatement, params: readonly (Buffer | null)[], paramFormats: readonly number[]): Promise<unknown> | unknown;
  /** Execute: each is its own request (its own grant). */
  execute(portal: BoundPortal, maxRows: number): Promise<Execution> | Execution;
  /** The client sent a CancelRequest: withdraw a pending approval, if any. */
  interrupt(): void;
  /** The session ends: withdraw what is pending, revoke what is held. */
  close(reason: string): void | Promise<void>;
}
