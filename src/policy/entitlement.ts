// Whether this caller may read this trace, and whether a human must approve it first
// (SPEC sections 3 and 4). Owner and risk live in the database, so when a rule needs
// them and the caller has not supplied them the answer is "look it up and ask again".
// A trace that does not exist and a trace the caller does not own get the same answer:
// anything else would let a caller probe for trace ids.
import type { Identity } from '../identity.js';
import { deny, NOT_ENTITLED, type Decision, type GrantTerms } from './decision.js';
import type { Policy, Rule, TraceInfo } from './types.js';

export function entitlementDecision(
  policy: Policy,
  rule: Rule,
  identity: Identity,
  terms: GrantTerms,
  trace: TraceInfo | null | undefined,
): Decision {
  const notEntitled = deny('denied', rule.name, NOT_ENTITLED);
  const e = rule.entitlement;
  if (e.type === 'token-claim' && !claimedTraceIds(identity.claims[e.claim]).includes(terms.traceId)) return notEntitled;

  const columns: ('owner' | 'risk')[] = [];
  if (e.type === 'owner') columns.push('owner');
  if (rule.approval) columns.push('risk');
  const table = policy.lookupTable;
  if (columns.length && table) {
    if (trace === undefined) {
      return {
        outcome: 'lookup',
        category: 'trace-read',
        rule: rule.name,
        reason: `the trace's ${columns.join(' and ')} must be looked up`,
        traceId: terms.traceId,
        columns,
        table: {
          table: table.qualified,
          key: table.key,
          ...(table.owner !== null && columns.includes('owner') ? { owner: table.owner } : {}),
          ...(table.risk !== null && columns.includes('risk') ? { risk: table.risk } : {}),
        },
      };
    }
    const exists = trace !== null && trace.exists;
    if (e.type === 'owner') {
      const claim = identity.claims[e.claim];
      if (!exists || typeof claim !== 'string' || claim === '' || trace.owner !== claim) return notEntitled;
    }
    const risk = exists ? trace.risk : null;
    // Facts without the risk this rule's approval needs were looked up for another
    // rule: deciding on them would skip the approval, so the read is refused.
    if (rule.approval && risk === undefined) return notEntitled;
    if (rule.approval && typeof risk === 'string' && rule.approval.risks.has(risk)) {
      return {
        outcome: 'needs-approval',
        category: 'trace-read',
        rule: rule.name,
        reason: `reading a ${risk}-risk trace needs approval by ${rule.approval.quorum} of: ${rule.approval.approverGroups.join(', ')}`,
        approval: { approverGroups: rule.approval.approverGroups, quorum: rule.approval.quorum, timeoutMs: rule.approval.timeoutMs },
        ...terms,
      };
    }
  }
  return { outcome: 'allow', category: 'trace-read', rule: rule.name, reason: `single-trace read under rule ${rule.name}`, ...terms };
}

// A claim naming trace ids: one id as a string, or an array of ids. A string is never
// split: an id may itself contain separators, and a split would widen the grant.
function claimedTraceIds(claim: unknown): string[] {
  if (typeof claim === 'string') return [claim];
  if (Array.isArray(claim)) return claim.filter((c): c is string => typeof c === 'string');
  return [];
}
