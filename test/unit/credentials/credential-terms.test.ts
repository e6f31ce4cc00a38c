// The policy's answer to a credential request, decided as for a statement reading the
// trace: rule by groups, then entitlement and approval; and the credential's lifetime,
// capped by the rule's grantTtl and by the expiry of the token it is handed to.
import { describe, expect, test } from 'vitest';
import { credentialExpiry, credentialTtlMs, decideCredential, DEFAULT_CREDENTIAL_TTL_MS } from '../../../src/credentials/credential-terms.js';
import { NOT_ENTITLED } from '../../../src/policy/decision.js';
import type { Rule } from '../../../src/policy/types.js';
import { agent, identity, NOW, reader, testPolicy } from '../policy/fixtures.js';

function rule(name: string): Rule {
  const found = testPolicy.rules.find((r) => r.name === name);
  if (!found) throw new Error(`no rule ${name} in the test policy`);
  return found;
}

describe('decideCredential', () => {
  test('a caller without a rule is refused for every trace', () => {
    expect(decideCredential(testPolicy, identity(['nobody']), 't1')).toMatchObject({ outcome: 'deny', rule: null, sqlstate: '28000' });
  });

  test('an owner rule looks the trace up, then allows the owner and refuses everyone else alike', () => {
    expect(decideCredential(testPolicy, agent, 't1')).toMatchObject({ outcome: 'lookup', traceId: 't1', columns: ['owner', 'risk'] });
    expect(decideCredential(testPolicy, agent, 't1', { exists: true, owner: 'agent-a', risk: 'low' })).toMatchObject({ outcome: 'allow', rule: 'agents', traceId: 't1' });
    const theirs = decideCredential(testPolicy, agent, 't1', { exists: true, owner: 'agent-b', risk: 'low' });
    const missing = decideCredential(testPolicy, agent, 't1', null);
    expect(theirs).toEqual(missing);
    expect(theirs).toMatchObject({ outcome: 'deny', reason: NOT_ENTITLED });
  });

  test('a high-risk trace needs the rule\'s approval', () => {
    expect(decideCredential(testPolicy, agent, 't1', { exists: true, owner: 'agent-a', risk: 'high' })).toMatchObject({
      outcome: 'needs-approval',
      approval: { approverGroups: ['security'], quorum: 2 },
    });
  });

  test('a claim-bound token gets credentials for the traces it names only, without a lookup', () => {
    const claimed = identity(['claimed'], { trace_ids: ['t1'] });
    expect(decideCredential(testPolicy, claimed, 't1')).toMatchObject({ outcome: 'allow', rule: 'claimed' });
    expect(decideCredential(testPolicy, claimed, 't2')).toMatchObject({ outcome: 'deny', reason: NOT_ENTITLED });
  });

  test('an any-trace rule allows without a lookup', () => {
    expect(decideCredential(testPolicy, reader, 'whatever')).toMatchObject({ outcome: 'allow', rule: 'readers' });
  });
});

describe('credential lifetime', () => {
  test('60 s by default, what was asked for below the cap, and never past the rule\'s grantTtl', () => {
    expect(credentialTtlMs(rule('readers'), undefined)).toBe(30_000);
    expect(credentialTtlMs({ ...rule('readers'), grantTtlMs: 120_000 }, undefined)).toBe(DEFAULT_CREDENTIAL_TTL_MS);
    expect(credentialTtlMs(rule('agents'), 5_000)).toBe(5_000);
    expect(credentialTtlMs(rule('agents'), 3_600_000)).toBe(20_000);
  });

  test('expires after its TTL, or with the receiving token if that is sooner', () => {
    expect(credentialExpiry(NOW, 30_000, identity(['readers'], {}, NOW + 3_600_000))).toBe(NOW + 30_000);
    expect(credentialExpiry(NOW, 30_000, identity(['readers'], {}, NOW + 10_000))).toBe(NOW + 10_000);
  });
});
