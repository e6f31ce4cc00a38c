// Single-trace scope (SPEC section 2): every reference to a trace table must be pinned
// by a conjunct `key = <text or $n>` that holds for every row the reference contributes,
// or by `key = <a pinned reference's key, read directly>`. Pins are propagated to a
// fixpoint, so the order of conjuncts and the nesting of subqueries do not matter. A
// conjunct pins only the relations it restricts (analyser: WHERE restricts its level,
// an outer join's ON only its nullable side) and only through a reference that resolves
// to exactly one column of that relation, read directly (a subquery's column is not its
// relation).
import type { Conjunct, EntryId, Operand } from '../sql/facts.js';
import type { Resolver } from './resolve.js';
import type { TraceTable } from './types.js';

export type PinSource = { readonly type: 'text'; readonly value: string } | { readonly type: 'param'; readonly number: number };

export interface PinResult {
  /** Every value each trace-table reference was pinned to (more than one: all must agree). */
  readonly pins: ReadonlyMap<EntryId, readonly PinSource[]>;
  /** Per parameter, how many conjuncts compare a trace key with it directly (`key = $n`). */
  readonly keyComparisons: ReadonlyMap<number, number>;
}

export function computePins(conjuncts: readonly Conjunct[], traceEntries: ReadonlyMap<EntryId, TraceTable>, resolver: Resolver): PinResult {
  const pins = new Map<EntryId, PinSource[]>();
  const keyComparisons = new Map<number, Set<number>>();
  const target = (op: Operand, restricts: readonly EntryId[]): EntryId | null => {
    if (op.type !== 'column') return null;
    const r = resolver.resolve(op.use);
    if (!r.unique || !r.unique.direct) return null;
    const table = traceEntries.get(r.unique.entry);
    if (!table || r.unique.column !== table.key || !restricts.includes(r.unique.entry)) return null;
    return r.unique.entry;
  };
  const source = (op: Operand): readonly PinSource[] | null => {
    if (op.type === 'text') return [op];
    if (op.type === 'param') return [op];
    const r = resolver.resolve(op.use);
    // Only a key read directly carries its pin across `key = key`: Postgres then puts
    // the value on both scans. Through a subquery's output (which it may not merge,
    // OFFSET 0) the value stays inside, the other scan reads every row, and its
    // filters (a cast that fails, quoting the value) run on other traces' rows.
    if (!r.unique || !r.unique.direct) return null;
    const table = traceEntries.get(r.unique.entry);
    if (!table || r.unique.column !== table.key) return null;
    return pins.get(r.unique.entry) ?? null;
  };
  // Pins `t`'s relation to what `s` holds; whether that added a value.
  const pinFrom = (t: Operand, s: Operand, restricts: readonly EntryId[]): boolean => {
    const entry = target(t, restricts);
    if (entry === null) return false;
    const values = source(s);
    if (values === null) return false;
    const current = pins.get(entry) ?? [];
    const added = values.filter((v) => !current.some((x) => sameSource(x, v)));
    if (added.length === 0) return false;
    pins.set(entry, [...current, ...added]);
    return true;
  };
  const countKeyComparison = (t: Operand, s: Operand, restricts: readonly EntryId[], conjunct: number): void => {
    if (s.type !== 'param' || target(t, restricts) === null) return;
    let seen = keyComparisons.get(s.number);
    if (!seen) keyComparisons.set(s.number, (seen = new Set()));
    seen.add(conjunct);
  };
  conjuncts.forEach((c, i) => {
    countKeyComparison(c.left, c.right, c.restricts, i);
    countKeyComparison(c.right, c.left, c.restricts, i);
  });
  let changed = true;
  while (changed) {
    changed = false;
    for (const c of conjuncts) {
      if (pinFrom(c.left, c.right, c.restricts)) changed = true;
      if (pinFrom(c.right, c.left, c.restricts)) changed = true;
    }
  }
  return { pins, keyComparisons: new Map([...keyComparisons].map(([n, s]) => [n, s.size])) };
}

function sameSource(a: PinSource, b: PinSource): boolean {
  return a.type === 'text' ? b.type === 'text' && a.value === b.value : b.type === 'param' && a.number === b.number;
}
