// decide(): one pure decision for one Query message or one Bind, from the policy, the
// caller, the analysed statements and the parameter values. No I/O and no clock (now is
// passed in). Deny by default: a statement is allowed only when a check below says so.
//
//   identity ─▶ rule ─▶ every statement: blocked? housekeeping (incl. psql's \d)? single-trace read?
//                              │ any denial denies the whole message (none of it runs)
//                              ▼
//            pins resolved against the Bind values ─▶ exactly one trace id
//                              ▼
//            entitlement (token claim / owner lookup) ─▶ approval (risk lookup)
//
// Quotas are counted separately (quota.ts) when the session issues the grant, so that a
// decision can be recomputed (after a lookup or an approval) without counting twice.
import type { Identity } from '../identity.js';
import type { Analysis } from '../sql/facts.js';
import { deny, DOES_NOT_PARSE, type Decision } from './decision.js';
import { entitlementDecision } from './entitlement.js';
import { housekeepingDecision } from './housekeeping.js';
import { psqlDescribe } from './psql-describe.js';
import { ruleForIdentity } from './rules.js';
import { checkSelect } from './select-check.js';
import type { Policy, TraceInfo } from './types.js';

export function decide(
  policy: Policy,
  identity: Identity,
  analysis: Analysis,
  params: readonly (string | null)[],
  now: number,
  trace?: TraceInfo | null,
): Decision {
  const rule = ruleForIdentity(policy, identity);
  if (!rule) return deny('identity', null, 'no policy rule matches your groups', '28000');
  if (identity.expiresAt <= now) return deny('identity', rule.name, 'token expired', '28000');
  if (!analysis.ok) {
    const reason = analysis.sqlstate === '42601' ? `${DOES_NOT_PARSE}: ${analysis.message}` : analysis.message;
    return deny('invalid', rule.name, reason, analysis.sqlstate);
  }

  const statements = analysis.statements;
  const traceIds: string[] = [];
  const pinnedParams = new Set<number>();
  const usedElsewhere = new Set<number>();
  // Even a read of no trace data returns rows (generate_series can return many): limit it.
  let returnsRows = false;
  const housekeeping: string[] = [];
  for (const [i, s] of statements.entries()) {
    const where = statements.length > 1 ? ` (statement ${i + 1} of ${statements.length})` : '';
    switch (s.kind) {
      case 'select': {
        // psql's own describe queries, recognised by their exact text: catalog structure only.
        const described = psqlDescribe(s);
        if (described) {
          returnsRows = true;
          if (!housekeeping.includes(described)) housekeeping.push(described);
          break;
        }
        const verdict = checkSelect(s, policy, rule.maskingExempt);
        if (verdict.type === 'deny') return deny('denied', rule.name, verdict.reason + where);
        if (verdict.type === 'housekeeping') {
          returnsRows = true;
          break;
        }
        for (const pin of verdict.pins) {
          if (pin.type === 'text') {
            traceIds.push(pin.value);
            continue;
          }
          const value = params[pin.number - 1];
          if (value === undefined) return deny('denied', rule.name, `parameter $${pin.number} pins the trace but has no value${where}`);
          if (value === null) return deny('denied', rule.name, `parameter $${pin.number} pins the trace but is NULL${where}`);
          traceIds.push(value);
          pinnedParams.add(pin.number);
        }
        for (const n of verdict.typedElsewhere) usedElsewhere.add(n);
        break;
      }
      case 'blocked':
        return deny('blocked', rule.name, s.reason + where);
      case 'unanalysable':
        return deny('denied', rule.name, s.reason + where);
      case 'transaction':
      case 'set':
      case 'set-transaction':
      case 'reset':
      case 'show':
      case 'discard':
      case 'deallocate': {
        const d = housekeepingDecision(s, policy, rule);
        if (d.outcome === 'deny') return { ...d, reason: d.reason + where };
        break;
      }
      default:
        return unreachable(s);
    }
  }

  const distinct = [...new Set(traceIds)];
  if (distinct.length > 1) {
    const shown = distinct.slice(0, 3).map((id) => JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id));
    return deny('denied', rule.name, `the message reads more than one trace (${shown.join(', ')}): a statement may read one trace`);
  }
  const [traceId] = distinct;
  if (traceId === undefined) {
    const reason = statements.length === 0 ? 'empty query' : housekeeping.length ? `no trace data is read (${housekeeping.join('; ')})` : 'no trace data is read';
    return { outcome: 'allow', category: 'housekeeping', rule: rule.name, reason, limits: returnsRows ? rule.limits : null };
  }
  const terms = {
    traceId,
    limits: rule.limits,
    grantTtlMs: rule.grantTtlMs,
    maskingExempt: rule.maskingExempt,
    pinnedParams: [...pinnedParams].sort((a, b) => a - b),
    pinnedParamsUsedElsewhere: [...usedElsewhere].filter((n) => pinnedParams.has(n)).sort((a, b) => a - b),
  };
  return entitlementDecision(policy, rule, identity, terms, trace);
}

function unreachable(value: never): never {
  throw new Error(`unhandled statement kind ${JSON.stringify(value)}`);
}

export { ruleForIdentity };
