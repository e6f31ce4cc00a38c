// The owner/risk lookups (src/upstream/lookups.ts) are cached for a few seconds and
// shared by every session. One rule may need only a trace's owner, another its risk
// for an approval: facts cached for the first must not answer the second, or a
// high-risk read runs without the approval its rule demands. Decided here the way the
// gate decides (decide, look the trace up in the real database, decide again), with
// one lookups object for both callers, as in main.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../../src/identity.js';
import { decide } from '../../../src/policy/decide.js';
import type { Decision } from '../../../src/policy/decision.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { analyze, initSqlParser } from '../../../src/sql/analyze.js';
import { fixedCredential } from '../../../src/upstream/credential.js';
import { UpstreamLookups } from '../../../src/upstream/lookups.js';
import { testEnv } from '../../helpers/env.js';

const POLICY = parsePolicy(
  `
version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
rules:
  - name: owners
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
  - name: contractors
    groups: [contractors]
    approval: { when: { risk: [high] }, approvers: { groups: [security] }, quorum: 1, timeout: 10m }
`,
  'lookup-cache-policy.yaml',
  { env: {} },
);

// tr_000003 belongs to agent-a and is high risk (the demo data).
const READ = `SELECT trace_id, summary FROM traces WHERE trace_id = 'tr_000003'`;

function who(groups: string[], sub: string): Identity {
  return { subject: sub, groups, claims: { sub }, jti: `jti-${sub}`, expiresAt: Number.POSITIVE_INFINITY, tokenHash: 'h' };
}
const OWNER = who(['ai-agents'], 'agent-a');
const CONTRACTOR = who(['contractors'], 'contractor-1');

/** Lookups with the proxy's own upstream role, as main.ts makes them. */
function openLookups(): UpstreamLookups {
  const { pg } = testEnv();
  return new UpstreamLookups(
    {
      endpoint: { host: pg.host, port: pg.port, tls: { mode: 'disable' }, connectTimeoutMs: 5_000 },
      database: pg.database,
      user: pg.proxyUser,
      credential: fixedCredential(pg.proxyPassword),
    },
    Date.now,
  );
}

let lookups: UpstreamLookups;

beforeAll(async () => {
  await initSqlParser();
  lookups = openLookups();
});

afterAll(async () => {
  await lookups.close();
});

async function decision(identity: Identity): Promise<Decision> {
  const analysis = analyze(READ);
  const first = decide(POLICY, identity, analysis, [], Date.now());
  if (first.outcome !== 'lookup') return first;
  return decide(POLICY, identity, analysis, [], Date.now(), await lookups.trace(first.table, first.traceId));
}

describe('trace lookups shared between rules', () => {
  it('look up only the columns a rule needs', async () => {
    const first = decide(POLICY, OWNER, analyze(READ), [], Date.now());
    expect(first).toMatchObject({ outcome: 'lookup', columns: ['owner'] });
    if (first.outcome !== 'lookup') return;
    expect(await lookups.trace(first.table, first.traceId)).toEqual({ exists: true, owner: 'agent-a', risk: undefined });
  });

  it("do not answer a rule's approval with facts cached for an owner check", async () => {
    expect((await decision(OWNER)).outcome).toBe('allow');
    // Within the cache's lifetime, the same trace under the rule with an approval.
    expect(await decision(CONTRACTOR)).toMatchObject({ outcome: 'needs-approval', rule: 'contractors' });
  });

  it('give the owner check the owner after facts were cached for an approval', async () => {
    const other = openLookups();
    try {
      const contractorFirst = decide(POLICY, CONTRACTOR, analyze(READ), [], Date.now());
      if (contractorFirst.outcome !== 'lookup') throw new Error('expected a lookup');
      expect(await other.trace(contractorFirst.table, contractorFirst.traceId)).toEqual({ exists: true, owner: undefined, risk: 'high' });
      const ownerFirst = decide(POLICY, OWNER, analyze(READ), [], Date.now());
      if (ownerFirst.outcome !== 'lookup') throw new Error('expected a lookup');
      const facts = await other.trace(ownerFirst.table, ownerFirst.traceId);
      expect(decide(POLICY, OWNER, analyze(READ), [], Date.now(), facts).outcome).toBe('allow');
    } finally {
      await other.close();
    }
  });
});
