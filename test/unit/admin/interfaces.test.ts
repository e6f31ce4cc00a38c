// The admin server's narrow interfaces are satisfied by the real parts the composition
// root passes, and the broker satisfies the statement gate's ApprovalGateway. The checks are assignments the compiler verifies (npm run typecheck fails
// if one drifts); at run time the test only confirms the file loaded.
import { describe, expect, test } from 'vitest';
import type { ActiveGrantView, AdminApprovals, AdminLiveSessions, AdminRecorder, AdminRevocations, AdminTokenVerifier, MetricsExposition, RecordedSessions } from '../../../src/admin/deps.js';
import type { Metrics } from '../../../src/admin/metrics.js';
import type { ApprovalRecorder } from '../../../src/approvals/approval.js';
import type { ApprovalBroker } from '../../../src/approvals/broker.js';
import type { AuditStore } from '../../../src/audit/store.js';
import type { TokenVerifier } from '../../../src/auth/oidc-verifier.js';
import type { ApprovalGateway } from '../../../src/gate/policy-gate.js';
import type { Grant } from '../../../src/grants/grant-registry.js';
import type { RevocationList } from '../../../src/revocation/revocations.js';
import type { ProxyListener } from '../../../src/server/listener.js';

type Fits<Actual extends Wanted, Wanted> = [Actual, Wanted];

export type InterfaceFit = [
  Fits<TokenVerifier, AdminTokenVerifier>,
  Fits<ApprovalBroker, AdminApprovals>,
  Fits<ApprovalBroker, ApprovalGateway>,
  Fits<RevocationList, AdminRevocations>,
  Fits<ProxyListener, AdminLiveSessions>,
  Fits<AuditStore, RecordedSessions>,
  Fits<AuditStore, AdminRecorder>,
  Fits<AuditStore, ApprovalRecorder>,
  Fits<Metrics, MetricsExposition>,
  Fits<Grant, ActiveGrantView>,
];

describe('admin dependencies fit the real parts', () => {
  test('checked by the compiler', () => {
    expect(true).toBe(true);
  });
});
