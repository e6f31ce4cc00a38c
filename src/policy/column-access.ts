// Column-level rules that the masker downstream cannot enforce by itself:
// - A masked column (masking.columns) may only leave as a bare output column, where the
//   masker finds it through RowDescription's table and column. Inside an expression
//   (lower(x), x || '', substring, casts, JSON builders), in a comparison (WHERE x LIKE
//   'a%' answers questions about the value), in a sort or grouping, in DISTINCT, a set
//   operation, a VALUES list or a subquery used as a value, its value would leave
//   unmasked or be revealed by an oracle: denied.
// - Whole rows (t, t.*, to_jsonb(t), row_to_json(t), json_agg(t), t::text) are allowed
//   only as a whole output column: the masker handles them by field (a row type) or by
//   JSON key. Taking them apart in an expression ((t).email, to_jsonb(t)->>'email') is
//   denied, and so is t::text of a table with masked columns: record text carries no
//   column names, so its fields could only be scanned by detectors, not ruled.
// - Catalog columns that expose data or secrets (pg_proc.prosrc ...) are never read.
import type { ColumnUse, Output, Scope, SelectFacts } from '../sql/facts.js';
import { WHOLE_ROW_TO_TEXT } from '../sql/select-analyzer.js';
import type { RelationClass } from './relations.js';
import type { Origin, Resolver } from './resolve.js';

export function columnAccessProblem(
  facts: SelectFacts,
  resolver: Resolver,
  classes: ReadonlyMap<number, RelationClass>,
  maskedColumns: ReadonlyMap<string, ReadonlySet<string>>,
  maskingExempt: boolean,
): string | null {
  const describe = (o: Origin): { masked: string | null; restricted: string | null } => {
    if (o.type === 'unknown') return { masked: 'a column the policy cannot trace', restricted: null };
    // Computed values and function columns: derivation.ts follows them (detectors); a
    // masked column inside them was already checked where it is used.
    if (o.type === 'output' || o.type === 'function') return { masked: null, restricted: null };
    const cls = classes.get(o.entry);
    if (!cls) return { masked: null, restricted: null };
    if (cls.type === 'catalog') {
      if (o.type === 'whole-row') return { masked: null, restricted: cls.restricted.size ? `whole rows of pg_catalog.${cls.name} (they include ${[...cls.restricted].join(', ')})` : null };
      return { masked: null, restricted: cls.restricted.has(o.column) ? `column pg_catalog.${cls.name}.${o.column}` : null };
    }
    if (cls.type !== 'trace' || maskingExempt) return { masked: null, restricted: null };
    const masked = maskedColumns.get(cls.table.qualified);
    if (!masked) return { masked: null, restricted: null };
    if (o.type === 'whole-row') return { masked: `whole rows of ${cls.table.qualified}`, restricted: null };
    return { masked: masked.has(o.column) ? `masked column ${cls.table.qualified}.${o.column}` : null, restricted: null };
  };

  for (const use of facts.uses) {
    const r = resolver.resolve(use.id);
    for (const origin of r.origins) {
      const system = systemColumnProblem(origin, classes);
      if (system) return system;
      const { masked, restricted } = describe(origin);
      if (restricted) return `${restricted} is never readable`;
      if (masked === null) continue;
      const problem = maskedUseProblem(use, origin, masked, r.fieldSelect, facts);
      if (problem) return problem;
    }
  }
  for (const ref of facts.outputRefs) {
    const scope = facts.scopes[ref.scope];
    if (!scope) continue;
    for (const output of referencedOutputs(scope, ref.by)) {
      const origins = output.type === 'star' && ref.by.type === 'name' ? resolver.starColumn(output.use, ref.by.name) : outputOrigins(output, resolver);
      for (const origin of origins) {
        const { masked } = describe(origin);
        if (masked) return `${ref.clause.toUpperCase()} uses ${masked}: sorting or grouping by a masked column reveals its value`;
      }
    }
  }
  return null;
}

// A row's physical address and transaction ids. `ctid = '(0,18)'` makes Postgres fetch
// that row by a TID scan, where the key's pin is only a filter: other conditions, cheaper
// or as cheap, run first on whatever trace the row belongs to (a strict jsonpath that
// fails tells the shape of another agent's step). Never needed to read one's own trace.
const SYSTEM_COLUMNS = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid']);

function systemColumnProblem(origin: Origin, classes: ReadonlyMap<number, RelationClass>): string | null {
  if (origin.type !== 'base' || !SYSTEM_COLUMNS.has(origin.column)) return null;
  const cls = classes.get(origin.entry);
  if (cls?.type !== 'trace') return null;
  return `system column ${origin.column} of ${cls.table.qualified} is not allowed: it can address a row outside the pinned trace`;
}

function maskedUseProblem(use: ColumnUse, origin: Origin, masked: string, fieldSelect: boolean, facts: SelectFacts): string | null {
  const ctx = use.context;
  if (origin.type === 'packed') {
    return `${masked} is packed into a whole row of a subquery or WITH query, where the masker cannot find it: select the column itself`;
  }
  if (ctx.type === 'expression' || fieldSelect) {
    const clause = ctx.type === 'expression' ? ctx.clause : 'select list';
    const via = ctx.type === 'expression' && ctx.via ? ` (in ${ctx.via})` : '';
    if (clause === 'where' || clause === 'join condition' || clause === 'join using' || clause === 'having') {
      return `${masked} is compared in the ${clause.toUpperCase()}${via}: comparing a masked column reveals its value`;
    }
    return `${masked} is used in an expression in the ${clause}${via}: select it as a bare column so it can be masked`;
  }
  if (ctx.type === 'wholerow-output' && origin.type === 'base') {
    return `${masked} is passed to ${ctx.via}: select it as a bare column so it can be masked`;
  }
  if (ctx.type === 'wholerow-output' && origin.type === 'whole-row' && ctx.via === WHOLE_ROW_TO_TEXT) {
    return `${masked} are cast to text, where their masked columns cannot be found: select the columns, or to_jsonb() of the row`;
  }
  const scope = facts.scopes[ctx.scope];
  if (!scope) return null;
  switch (scope.role) {
    case 'top':
    case 'derived':
    case 'cte':
      return scope.distinct ? `SELECT DISTINCT compares ${masked}, which reveals its value` : null;
    case 'setop-branch':
      return `${masked} is returned through UNION/INTERSECT/EXCEPT, which compares it and loses its masking`;
    case 'sublink':
      return `${masked} is returned from a subquery used as a value, which loses its masking`;
  }
}

export function referencedOutputs(scope: Scope, by: { type: 'position'; index: number } | { type: 'name'; name: string }): Output[] {
  if (by.type === 'name') return scope.outputs.filter((o) => o.type === 'star' || o.name === by.name);
  // After a `*` the positions are unknown: check every star and the named position.
  const starAt = scope.outputs.findIndex((o) => o.type === 'star');
  if (starAt !== -1 && starAt < by.index) return scope.outputs.filter((o, i) => o.type === 'star' || i >= starAt);
  const o = scope.outputs[by.index - 1];
  return o ? [o] : [];
}

function outputOrigins(output: Output, resolver: Resolver): readonly Origin[] {
  if (output.type === 'star') return resolver.resolve(output.use).origins;
  const carried = output.column ?? output.wholeRow;
  return carried === null ? [] : resolver.resolve(carried).origins;
}
