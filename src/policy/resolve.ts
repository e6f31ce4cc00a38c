// Resolves the analyser's column references the way Postgres would, using what the
// policy knows about trace tables (their key, owner, risk and masked columns exist) and
// treating every other column as "may exist". Where Postgres could pick more than one
// column the result lists them all; only a reference resolved to exactly one certain
// column is `unique`, and only a unique reference may pin a trace. Values are traced
// through subqueries and CTEs to the base column they carry, because Postgres reports
// (and the masker masks) such pass-through columns by their base table column.
import type { ColumnUse, EntryId, Env, Output, RangeEntry, Scope, SelectFacts, UseId } from '../sql/facts.js';
import type { RelationClass } from './relations.js';

export type Origin =
  /** The value of a base relation's column. */
  | { readonly type: 'base'; readonly entry: EntryId; readonly column: string }
  /** A whole row (or a value built from one, such as to_jsonb(t)) of this base relation. */
  | { readonly type: 'whole-row'; readonly entry: EntryId }
  /**
   * A base column packed inside a whole row of a subquery or CTE (`SELECT x FROM (...) x`):
   * the value leaves as part of a record, under whatever name the subquery gave it, so
   * neither the column rule nor the JSON key can find it.
   */
  | { readonly type: 'packed'; readonly entry: EntryId; readonly column: string }
  /**
   * A value computed by a subquery, CTE, set operation or VALUES list (not a column it
   * passes on bare): output `index` of that query level.
   */
  | { readonly type: 'output'; readonly scope: number; readonly index: number }
  /** A column of a function in FROM. */
  | { readonly type: 'function'; readonly entry: EntryId }
  /** Could not be traced: treated as carrying anything. */
  | { readonly type: 'unknown' };

export interface Resolution {
  readonly origins: readonly Origin[];
  /** The single certain base column this reference reads, if there is one. */
  readonly unique: { readonly entry: EntryId; readonly column: string; readonly direct: boolean } | null;
  /** `composite.field` selection: never a pass-through column. */
  readonly fieldSelect: boolean;
  /**
   * `x.name` that Postgres may read as the call name(x) (functional notation) rather
   * than as a column of x: the function's name. Null when it can only be a column.
   */
  readonly functional?: string | null;
}

// Built-in functions that take a whole row of any table (an argument of type record,
// "any", anyelement, anynonarray, anycompatible ...; PostgreSQL 15's pg_proc): `t.name`
// with one of these names may be name(t) rather than a column of t, since the policy
// does not know a table's columns. to_jsonb(t) and the like are allowed, written so;
// t.to_jsonb, c.to_jsonb (a catalog row with its never-readable columns), t.record_out
// or t.count (an aggregate over every row the level reads) are not.
const ROW_FUNCTIONS: ReadonlySet<string> = new Set([
  'any_out', 'anycompatible_out', 'anycompatiblenonarray_out', 'anyelement_out', 'anynonarray_out', 'array_agg',
  'concat', 'count', 'cume_dist', 'dense_rank', 'first_value', 'hash_record', 'json_agg', 'json_build_array',
  'json_build_object', 'jsonb_agg', 'jsonb_build_array', 'jsonb_build_object', 'lag', 'last_value', 'lead', 'mode',
  'num_nonnulls', 'num_nulls', 'percent_rank', 'pg_collation_for', 'pg_column_compression', 'pg_column_size',
  'pg_typeof', 'quote_literal', 'quote_nullable', 'rank', 'record_out', 'record_send', 'row_to_json', 'to_json', 'to_jsonb',
]);

type Presence = 'yes' | 'maybe' | 'no';

interface Lookup {
  readonly presence: Presence;
  readonly origins: readonly Origin[];
  /** direct: read from the relation itself (possibly through a join), not through a subquery. */
  readonly unique: { readonly entry: EntryId; readonly column: string; readonly direct: boolean } | null;
}

const NONE: Lookup = { presence: 'no', origins: [], unique: null };
const MAX_DEPTH = 64;

export class Resolver {
  private readonly memo = new Map<UseId, Resolution>();

  constructor(
    private readonly facts: SelectFacts,
    private readonly classes: ReadonlyMap<EntryId, RelationClass>,
    private readonly maskedColumns: ReadonlyMap<string, ReadonlySet<string>>,
  ) {}

  entry(id: EntryId): RangeEntry {
    const e = this.facts.entries[id];
    if (!e) throw new Error(`no entry ${id}`);
    return e;
  }

  private scope(id: number): Scope {
    const s = this.facts.scopes[id];
    if (!s) throw new Error(`no scope ${id}`);
    return s;
  }

  private use(id: UseId): ColumnUse {
    const u = this.facts.uses[id];
    if (!u) throw new Error(`no use ${id}`);
    return u;
  }

  resolve(id: UseId, depth = 0): Resolution {
    const hit = this.memo.get(id);
    if (hit) return hit;
    const result = depth > MAX_DEPTH ? { origins: [{ type: 'unknown' } as const], unique: null, fieldSelect: false } : this.resolveUncached(this.use(id), depth);
    this.memo.set(id, result);
    return result;
  }

  private resolveUncached(use: ColumnUse, depth: number): Resolution {
    const r = this.resolveNamed(use, depth);
    // A name no FROM item has is an error in Postgres, unless the policy's list of some
    // item's columns is short of Postgres's (a column it does not know of): then it is
    // a value the policy cannot follow, never one free of trace data. A bare name in
    // ORDER BY, GROUP BY or DISTINCT ON may name an output column instead (recorded
    // separately as an output reference), and nothing else can.
    if (r.origins.length === 0 && !mayNameOutput(use)) return { ...r, origins: [{ type: 'unknown' }] };
    return r;
  }

  private resolveNamed(use: ColumnUse, depth: number): Resolution {
    const ref = use.ref;
    if (ref.type === 'star') {
      const entries = ref.qualifier === null ? colsVisibleEntries(use.env) : this.byRefname(use.env, ref.qualifier);
      // x.* expands into x's columns, each with its origin, except as the argument of
      // to_jsonb(x.*) and the like, where it is x's row, packed as `x` is.
      const packed = use.context.type === 'wholerow-output';
      const origins: Origin[] = [];
      for (const e of entries) append(origins, this.wholeRow(e, depth, packed));
      return { origins, unique: null, fieldSelect: false };
    }
    if (ref.qualifier !== null) {
      const entries = this.byRefname(use.env, ref.qualifier);
      if (entries.length === 0) {
        // No table of that name: Postgres reads `a.b` as field b of column a.
        const col = this.unqualified(use.env, ref.qualifier, depth);
        return { origins: col.origins, unique: null, fieldSelect: true };
      }
      const found = entries.map((e) => ({ entry: e, known: this.entry(e).type !== 'relation', ...this.column(e, ref.name, depth) }));
      // Postgres reads `x.name` as the call name(x) when x has no column `name`
      // (functional notation): of any function taking x's row, or, for a function in
      // FROM that returns a scalar, that scalar (q.ts_stat runs a query). So a name
      // missing from a FROM item whose columns are all known is a function call; so is
      // one that may be a row-taking built-in where the columns are not all known.
      const functional =
        found.some((l) => l.presence === 'no' && l.known) ||
        (ROW_FUNCTIONS.has(ref.name) && found.every((l) => l.presence !== 'yes'))
          ? ref.name
          : null;
      // A name the analyser cannot find where it knows every column would be an error
      // in Postgres, or a function call: assume the worst (a whole row of the item).
      const lookups = found.map((l): Lookup => (l.presence === 'no' && l.known ? { presence: 'maybe', origins: this.wholeRow(l.entry, depth, true), unique: null } : l));
      const only = lookups.length === 1 ? lookups[0] : undefined;
      const unique = only && only.presence === 'yes' ? only.unique : null;
      return { origins: originsOf(lookups), unique, fieldSelect: false, functional };
    }
    const col = this.unqualified(use.env, ref.name, depth);
    return { origins: col.origins, unique: col.unique, fieldSelect: false };
  }

  /** An unqualified name: innermost level first; a certain match stops the search. */
  private unqualified(env: Env | null, name: string, depth: number): { origins: Origin[]; unique: Resolution['unique'] } {
    const origins: Origin[] = [];
    let certain: { lookups: Lookup[] } | null = null;
    let anyMaybe = false;
    for (let e: Env | null = env; e !== null && certain === null; e = e.outer) {
      const hits: Lookup[] = [];
      let yes = false;
      for (const item of e.frame) {
        if (!item.colsVisible) continue;
        const lookup = this.column(item.entry, name, depth);
        if (lookup.presence === 'no') continue;
        hits.push(lookup);
        append(origins, lookup.origins);
        if (lookup.presence === 'yes') yes = true;
      }
      if (yes) certain = { lookups: hits };
      else if (hits.length) anyMaybe = true;
    }
    // Postgres tries a whole-row reference only when no column matched at any level.
    if (certain === null) {
      for (let e: Env | null = env; e !== null; e = e.outer) {
        const rows = e.frame.filter((i) => i.relVisible && this.refname(i.entry) === name);
        if (rows.length) {
          for (const r of rows) origins.push(...this.wholeRow(r.entry, depth, true));
          break;
        }
      }
      return { origins, unique: null };
    }
    const [only] = certain.lookups;
    const unique = !anyMaybe && certain.lookups.length === 1 && only?.presence === 'yes' ? only.unique : null;
    return { origins, unique };
  }

  private refname(id: EntryId): string | null {
    return this.entry(id).refname;
  }

  /** Entries named `name` at the innermost level that has one (Postgres's refnameNamespaceItem). */
  private byRefname(env: Env | null, name: string): EntryId[] {
    for (let e: Env | null = env; e !== null; e = e.outer) {
      const hits = e.frame.filter((i) => i.relVisible && this.refname(i.entry) === name).map((i) => i.entry);
      if (hits.length) return hits;
    }
    return [];
  }

  /** Column `name` of one FROM item. */
  column(id: EntryId, name: string, depth: number): Lookup {
    if (depth > MAX_DEPTH) return { presence: 'maybe', origins: [{ type: 'unknown' }], unique: null };
    const e = this.entry(id);
    switch (e.type) {
      case 'relation':
        return { presence: this.relationHas(id, name), origins: [{ type: 'base', entry: id, column: name }], unique: { entry: id, column: name, direct: true } };
      case 'function': {
        const origins: Origin[] = [{ type: 'function', entry: id }];
        if (e.columns === null) return { presence: 'maybe', origins, unique: null };
        return e.columns.includes(name) ? { presence: 'yes', origins, unique: null } : NONE;
      }
      case 'subquery':
      case 'cte':
        return this.queryColumn(e.query, e.columnAliases, name, depth + 1);
      case 'join': {
        if (e.using.includes(name)) {
          const sides = e.joinType === 'right' ? [e.right] : e.joinType === 'full' ? [e.left, e.right] : [e.left];
          const looks = sides.map((s) => this.column(s, name, depth + 1));
          const [one] = looks;
          return { presence: 'yes', origins: originsOf(looks), unique: looks.length === 1 && one ? one.unique : null };
        }
        const left = this.column(e.left, name, depth + 1);
        const right = this.column(e.right, name, depth + 1);
        const presence: Presence = left.presence === 'yes' || right.presence === 'yes' ? 'yes' : left.presence === 'maybe' || right.presence === 'maybe' ? 'maybe' : 'no';
        const both = left.presence !== 'no' && right.presence !== 'no';
        return { presence, origins: [...left.origins, ...right.origins], unique: both ? null : left.presence !== 'no' ? left.unique : right.unique };
      }
    }
  }

  /** The masked columns of a trace table entry. */
  private maskedOf(id: EntryId): string[] {
    const cls = this.classes.get(id);
    return cls?.type === 'trace' ? [...(this.maskedColumns.get(cls.table.qualified) ?? [])] : [];
  }

  private relationHas(id: EntryId, name: string): Presence {
    const cls = this.classes.get(id);
    if (cls?.type !== 'trace') return 'maybe';
    const t = cls.table;
    if (name === t.key || name === t.owner || name === t.risk) return 'yes';
    return this.maskedColumns.get(t.qualified)?.has(name) ? 'yes' : 'maybe';
  }

  private queryColumn(scopeId: number, aliases: readonly string[], name: string, depth: number): Lookup {
    const scope = this.scope(scopeId);
    const outputs = scope.outputs;
    // Column aliases rename outputs by position; after a `*` positions are unknown.
    const starAt = outputs.findIndex((o) => o.type === 'star');
    if (aliases.length && starAt !== -1 && starAt < aliases.length) {
      const origins: Origin[] = [];
      outputs.forEach((o, i) => append(origins, this.outputOrigins(o, i, scope, depth)));
      return { presence: 'maybe', origins, unique: null };
    }
    const passThrough = scope.shape === 'select';
    const found: Lookup[] = [];
    outputs.forEach((o, i) => {
      if (o.type === 'star') {
        const star = this.use(o.use);
        const entries = star.ref.qualifier === null ? colsVisibleEntries(star.env) : this.byRefname(star.env, star.ref.qualifier);
        for (const e of entries) {
          const l = this.column(e, name, depth + 1);
          // Through the subquery's `*` the column is still its relation's, but read
          // through the subquery: not direct, as for a named output below.
          const carried = l.unique ? { ...l, unique: { ...l.unique, direct: false } } : l;
          if (l.presence !== 'no') found.push(passThrough ? carried : { presence: l.presence, origins: [computed(scopeId, i)], unique: null });
        }
        return;
      }
      if ((aliases[i] ?? o.name) !== name) return;
      if (!passThrough) {
        found.push({ presence: 'yes', origins: [computed(scopeId, i)], unique: null });
        return;
      }
      const carried = o.column ?? o.wholeRow;
      if (carried === null) {
        found.push({ presence: 'yes', origins: [computed(scopeId, i)], unique: null });
        return;
      }
      const r = this.resolve(carried, depth + 1);
      const unique = o.column !== null && !r.fieldSelect && r.unique ? { entry: r.unique.entry, column: r.unique.column, direct: false } : null;
      found.push({ presence: 'yes', origins: r.origins, unique });
    });
    if (found.length === 0) return NONE;
    const [only] = found;
    const presence: Presence = found.some((f) => f.presence === 'yes') ? 'yes' : 'maybe';
    return { presence, origins: originsOf(found), unique: found.length === 1 && only ? only.unique : null };
  }

  private outputOrigins(o: Output, index: number, scope: Scope, depth: number): Origin[] {
    if (scope.shape !== 'select') return [computed(scope.id, index)];
    if (o.type === 'star') return [...this.resolve(o.use, depth + 1).origins];
    const carried = o.column ?? o.wholeRow;
    return carried === null ? [computed(scope.id, index)] : [...this.resolve(carried, depth + 1).origins];
  }

  /** What column `name` of a `*` / `t.*` output carries. */
  starColumn(starUse: UseId, name: string): Origin[] {
    const star = this.use(starUse);
    if (star.ref.type !== 'star') return [...this.resolve(starUse).origins];
    const entries = star.ref.qualifier === null ? colsVisibleEntries(star.env) : this.byRefname(star.env, star.ref.qualifier);
    const origins: Origin[] = [];
    for (const e of entries) append(origins, this.column(e, name, 0).origins);
    return origins;
  }

  /**
   * Everything a whole row of this entry can carry. `packed`: the row leaves as one
   * record value (`x`, to_jsonb(x)) rather than expanded into its columns (`x.*`).
   */
  wholeRow(id: EntryId, depth: number, packed: boolean): Origin[] {
    if (depth > MAX_DEPTH) return [{ type: 'unknown' }];
    const e = this.entry(id);
    switch (e.type) {
      case 'relation':
        return [{ type: 'whole-row', entry: id }];
      case 'function':
        return [{ type: 'function', entry: id }];
      case 'subquery':
      case 'cte': {
        const scope = this.scope(e.query);
        const origins: Origin[] = [];
        scope.outputs.forEach((o, i) => {
          const carried = this.outputOrigins(o, i, scope, depth + 1);
          if (!packed) return append(origins, carried);
          for (const c of carried) {
            if (c.type === 'base') origins.push({ type: 'packed', entry: c.entry, column: c.column });
            else origins.push(c);
            // A `*` or `t.*` output carries a relation's whole row as columns, and packed
            // they leave under the query's column names, which its column aliases
            // (x(a, b, c), WITH q(a, b, c)) can change: to_jsonb(x) would key user_email
            // as "c", where the masker's rules by JSON key cannot find it.
            if (o.type === 'star' && c.type === 'whole-row') for (const column of this.maskedOf(c.entry)) origins.push({ type: 'packed', entry: c.entry, column });
          }
        });
        return origins;
      }
      case 'join':
        return [...this.wholeRow(e.left, depth + 1, packed), ...this.wholeRow(e.right, depth + 1, packed)];
    }
  }
}

// Array.prototype.flatMap is a slow generic builtin in V8; these run for every column
// reference of every uncached statement.
function append(to: Origin[], from: readonly Origin[]): void {
  for (const o of from) to.push(o);
}

function originsOf(lookups: readonly { readonly origins: readonly Origin[] }[]): Origin[] {
  const origins: Origin[] = [];
  for (const l of lookups) append(origins, l.origins);
  return origins;
}

function computed(scope: number, index: number): Origin {
  return { type: 'output', scope, index };
}

const OUTPUT_NAME_CLAUSES: ReadonlySet<string> = new Set(['order by', 'group by', 'distinct on']);

function mayNameOutput(use: ColumnUse): boolean {
  const ctx = use.context;
  return use.ref.type === 'column' && use.ref.qualifier === null && ctx.type === 'expression' && ctx.via === null && OUTPUT_NAME_CLAUSES.has(ctx.clause);
}

function colsVisibleEntries(env: Env): EntryId[] {
  return env.frame.filter((i) => i.colsVisible).map((i) => i.entry);
}
