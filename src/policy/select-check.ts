// The policy checks for one SELECT, in the order a developer would want to hear about
// problems: what it reads, what it calls, then whether every trace-table reference is
// pinned, then column-level masking rules, then how values derived from detector-scanned
// trace columns are used. The outcome is either a denial reason, a
// housekeeping read (constants, type metadata) or a trace read with its pin values
// (resolved against the Bind parameters by decide).
import type { EntryId, SelectFacts } from '../sql/facts.js';
import { functionProblem, operatorProblem, typeProblem } from './allow-lists.js';
import { columnAccessProblem } from './column-access.js';
import { derivationProblem, detectorsScan } from './derivation.js';
import { computePins, type PinSource } from './pins.js';
import { classifyRelation, type RelationClass } from './relations.js';
import { Resolver } from './resolve.js';
import type { Policy, TraceTable } from './types.js';

export type SelectVerdict =
  | { readonly type: 'deny'; readonly reason: string }
  | { readonly type: 'housekeeping' }
  | {
      readonly type: 'trace-read';
      readonly pins: readonly PinSource[];
      /**
       * Pinning parameters also used somewhere other than `key = $n` (a cast, a function
       * argument, another column's comparison). With no type declared at Parse, the
       * server infers the parameter's type from the first such use: `$1::char(60)`
       * makes it bpchar, which compares ignoring trailing blanks, so the trace the
       * server reads would not be the value pinned here.
       */
      readonly typedElsewhere: readonly number[];
    };

// The verdict depends only on the (immutable, text-cached) facts, the policy and the
// exemption, never on parameters or time: memoise it so a repeated statement costs a
// lookup. Weak keys let a replaced policy or an evicted analysis go.
const verdicts = new WeakMap<SelectFacts, WeakMap<Policy, { exempt?: SelectVerdict; masked?: SelectVerdict }>>();

export function checkSelect(facts: SelectFacts, policy: Policy, maskingExempt: boolean): SelectVerdict {
  let byPolicy = verdicts.get(facts);
  if (!byPolicy) {
    byPolicy = new WeakMap();
    verdicts.set(facts, byPolicy);
  }
  let entry = byPolicy.get(policy);
  if (!entry) {
    entry = {};
    byPolicy.set(policy, entry);
  }
  const hit = maskingExempt ? entry.exempt : entry.masked;
  if (hit) return hit;
  const verdict = evaluate(facts, policy, maskingExempt);
  if (maskingExempt) entry.exempt = verdict;
  else entry.masked = verdict;
  return verdict;
}

function evaluate(facts: SelectFacts, policy: Policy, maskingExempt: boolean): SelectVerdict {
  const deny = (reason: string): SelectVerdict => ({ type: 'deny', reason });
  const classes = new Map<EntryId, RelationClass>();
  const traceEntries = new Map<EntryId, TraceTable>();
  let catalogs = false;
  for (const e of facts.entries) {
    if (e.type !== 'relation') continue;
    const cls = classifyRelation(e.relation, policy);
    if (cls.type === 'denied') return deny(cls.reason);
    classes.set(e.id, cls);
    if (cls.type === 'trace') traceEntries.set(e.id, cls.table);
    else catalogs = true;
  }
  if (catalogs && traceEntries.size) return deny('a statement may read trace tables or type metadata catalogs, not both');

  for (const fn of facts.functions) {
    const problem = functionProblem(fn);
    if (problem) return deny(problem);
  }
  for (const op of facts.operators) {
    const problem = operatorProblem(op);
    if (problem) return deny(problem);
  }
  for (const t of facts.types) {
    const problem = typeProblem(t);
    if (problem) return deny(problem);
  }
  // A WITH query named like a table makes `FROM traces` mean something other than what
  // a reader (or a reviewer of the recording) sees: refuse the confusion outright.
  for (const cte of facts.ctes) {
    if (policy.traceTables.some((t) => t.name === cte.name) || cte.name.startsWith('pg_')) {
      return deny(`WITH query ${cte.name} shadows a table name: rename it`);
    }
  }

  const resolver = new Resolver(facts, classes, policy.maskedColumns);
  for (const use of facts.uses) {
    const fn = resolver.resolve(use.id).functional;
    if (fn && use.ref.type === 'column' && use.ref.qualifier !== null) {
      const { qualifier, name } = use.ref;
      return deny(
        `${qualifier}.${name} may be the function call ${fn}(${qualifier}) (Postgres's functional notation: ${name} is not a column of ${qualifier} the policy can be sure of): call functions as f(x), and select columns by names they have`,
      );
    }
  }
  const pins: PinSource[] = [];
  const typedElsewhere: number[] = [];
  if (traceEntries.size) {
    const result = computePins(facts.conjuncts, traceEntries, resolver);
    for (const [n, comparisons] of result.keyComparisons) {
      if (facts.paramUses.filter((u) => u === n).length > comparisons) typedElsewhere.push(n);
    }
    for (const [entryId, table] of traceEntries) {
      const values = result.pins.get(entryId);
      if (!values || values.length === 0) {
        const e = facts.entries[entryId];
        const name = e && e.type === 'relation' && e.relation.alias ? `${table.qualified} (as ${e.relation.alias})` : table.qualified;
        return deny(
          `${name} is read without pinning ${table.key} to one value: add \`${table.key} = $1\` (or a string constant) as a top-level AND condition of the WHERE clause where it is read`,
        );
      }
      for (const v of values) if (!pins.some((p) => samePin(p, v))) pins.push(v);
    }
  }

  const access = columnAccessProblem(facts, resolver, classes, policy.maskedColumns, maskingExempt);
  if (access) return deny(access);
  // Detector-scanned values may leave only whole (or destroyed): derivation.ts.
  if (traceEntries.size && detectorsScan(policy, maskingExempt)) {
    const derivation = derivationProblem(facts, resolver, classes);
    if (derivation) return deny(derivation);
  }
  return traceEntries.size ? { type: 'trace-read', pins, typedElsewhere } : { type: 'housekeeping' };
}

function samePin(a: PinSource, b: PinSource): boolean {
  return a.type === 'text' ? b.type === 'text' && a.value === b.value : b.type === 'param' && a.number === b.number;
}
