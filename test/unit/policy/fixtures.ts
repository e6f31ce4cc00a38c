// Shared fixtures for the decide() tables: a policy that exercises every rule shape,
// identities for each rule, and a helper that analyses and decides in one call.
import type { Identity } from '../../../src/identity.js';
import { decide } from '../../../src/policy/decide.js';
import type { Decision } from '../../../src/policy/decision.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy, TraceInfo } from '../../../src/policy/types.js';
import { analyze } from '../../../src/sql/analyze.js';

export const TEST_POLICY_YAML = `
version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
  - { table: public.trace_steps, key: trace_id }
settings:
  maxStatementTimeout: 60s
rules:
  - name: readers
    groups: [readers]
  - name: agents
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
    limits: { maxRows: 1000, maxBytes: 8MB }
    grantTtl: 20s
    approval: { when: { risk: [high] }, approvers: { groups: [security] }, quorum: 2, timeout: 10m }
  - name: claimed
    groups: [claimed]
    entitlement: { tokenClaim: trace_ids }
  - name: reviewers
    groups: [security]
    maskingExempt: true
masking:
  columns:
    - { column: public.traces.user_email, strategy: partial, keep: 4 }
    - { column: public.traces.body, jsonPaths: ["$.user.email"], strategy: redact }
`;

export const testPolicy: Policy = parsePolicy(TEST_POLICY_YAML, 'test-policy.yaml', { env: {} });

export function identity(groups: readonly string[], claims: Record<string, unknown> = {}, expiresAt = Number.POSITIVE_INFINITY): Identity {
  const subject = typeof claims['sub'] === 'string' ? claims['sub'] : 'someone';
  return { subject, groups, claims: { sub: subject, ...claims }, jti: 'jti-1', expiresAt, tokenHash: 'hash' };
}

export const reader = identity(['readers']);
export const agent = identity(['ai-agents'], { sub: 'agent-a' });
export const reviewer = identity(['security'], { sub: 'reviewer-1' });

export const NOW = 1_700_000_000_000;

export interface DecideOptions {
  readonly who?: Identity;
  readonly params?: readonly (string | null)[];
  readonly trace?: TraceInfo | null;
  readonly policy?: Policy;
}

export function run(sql: string, options: DecideOptions = {}): Decision {
  return decide(options.policy ?? testPolicy, options.who ?? reader, analyze(sql), options.params ?? [], NOW, options.trace);
}
