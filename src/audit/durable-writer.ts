// The durable half of the AuditStore contract, shared by every implementation: each
// record* call turns its input into chain records and hands them to `durable`, which a
// store implements as "resolve once committed, reject with AuditUnavailableError".
// Keeping the mapping here means SQLite and Postgres cannot record different things.
import {
  adminRecord,
  approvalRecord,
  credentialRecord,
  grantIssueRecord,
  sessionStartRecord,
  statementRecord,
  type PendingRecord,
} from './records.js';
import type { AdminAction, ApprovalStep, CredentialEvent, GrantIssue, SessionStart, StatementDecision } from './store.js';

export abstract class DurableRecordWriter {
  recordSessionStart(start: SessionStart): Promise<void> {
    return this.durable([sessionStartRecord(start)]);
  }

  /** The decision and, when one was issued for it, the grant: committed together. */
  recordDecision(decision: StatementDecision, grant?: GrantIssue): Promise<void> {
    const records = [statementRecord(decision)];
    if (grant !== undefined) records.push(grantIssueRecord(grant));
    return this.durable(records);
  }

  recordGrantIssued(grant: GrantIssue): Promise<void> {
    return this.durable([grantIssueRecord(grant)]);
  }

  recordApprovalStep(step: ApprovalStep): Promise<void> {
    return this.durable([approvalRecord(step)]);
  }

  recordAdminAction(action: AdminAction): Promise<void> {
    return this.durable([adminRecord(action)]);
  }

  recordCredentialEvent(event: CredentialEvent): Promise<void> {
    return this.durable([credentialRecord(event)]);
  }

  /** Resolves once `records` are committed, in one transaction, in this order. */
  protected abstract durable(records: readonly PendingRecord[]): Promise<void>;
}
