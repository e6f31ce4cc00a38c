// Turns one query level's FROM list into range entries and namespace items, following
// Postgres's visibility rules (parse_clause.c) because a column reference resolved
// differently from the server is a bypass:
// - a non-LATERAL subquery sees none of its sibling FROM items, only enclosing levels;
//   a LATERAL one (and every function in FROM, which is implicitly lateral) sees the
//   items to its left;
// - a JOIN's ON clause sees only the join's own two sides (plus enclosing levels);
// - once joined, the inputs' columns are reachable unqualified only through the join
//   (which merges USING columns); an aliased join hides its inputs' names entirely.
// It also records which relations each ON / USING equality restricts: an inner join's
// condition holds for every row of both sides, an outer join's only for the nullable
// side's rows, a full join's for neither.
import {
  bool,
  checkFields,
  fieldSet,
  int,
  isObject,
  list,
  nameList,
  optionalBody,
  optionalString,
  string,
  stringNode,
  unwrap,
  Unanalysable,
  type AstBody,
} from './ast.js';
import { analyzeFuncCall, typeNameRef, type ExprCtx } from './expr-analyzer.js';
import { findCte, type CteScope, type FactsBuilder } from './facts-builder.js';
import type { EntryId, Env, JoinType, NamespaceItem, ScopeId, TypeRef, ValueRef } from './facts.js';
import { functionColumns } from './function-columns.js';
import { addConjuncts } from './conjuncts.js';

export interface FromCtx {
  readonly b: FactsBuilder;
  /** The query level this FROM belongs to. */
  readonly scope: ScopeId;
  /** Enclosing query levels (not this level's FROM items). */
  readonly outer: Env | null;
  readonly ctes: CteScope | null;
  readonly depth: number;
  readonly subquery: (stmt: unknown, role: 'derived' | 'sublink', env: Env | null, ctes: CteScope | null) => ScopeId;
}

export interface FromResult {
  readonly items: readonly NamespaceItem[];
  readonly leaves: readonly EntryId[];
}

interface ItemResult extends FromResult {
  readonly top: EntryId;
}

const F = {
  RangeVar: fieldSet('catalogname', 'schemaname', 'relname', 'inh', 'relpersistence', 'alias', 'location'),
  Alias: fieldSet('aliasname', 'colnames'),
  RangeSubselect: fieldSet('lateral', 'subquery', 'alias'),
  RangeFunction: fieldSet('lateral', 'ordinality', 'is_rowsfrom', 'functions', 'alias', 'coldeflist'),
  JoinExpr: fieldSet('jointype', 'isNatural', 'larg', 'rarg', 'usingClause', 'join_using_alias', 'quals', 'alias', 'rtindex'),
  List: fieldSet('items'),
  ColumnDef: fieldSet('colname', 'typeName', 'is_local', 'collClause', 'location'),
} as const;

const JOIN_TYPES: Readonly<Record<string, JoinType>> = {
  JOIN_INNER: 'inner',
  JOIN_LEFT: 'left',
  JOIN_RIGHT: 'right',
  JOIN_FULL: 'full',
};

export function analyzeFromList(fromClause: unknown, ctx: FromCtx): FromResult {
  const items: NamespaceItem[] = [];
  const leaves: EntryId[] = [];
  for (const node of list(fromClause, 'FROM')) {
    // Earlier items are visible to this one only laterally (Postgres's p_lateral_only).
    const r = analyzeFromItem(node, ctx, [...items]);
    items.push(...r.items);
    leaves.push(...r.leaves);
  }
  return { items, leaves };
}

function analyzeFromItem(node: unknown, ctx: FromCtx, lateral: readonly NamespaceItem[]): ItemResult {
  ctx.b.visit(ctx.depth);
  const { type, body } = unwrap(node);
  switch (type) {
    case 'RangeVar':
      return rangeVar(body, ctx);
    case 'RangeSubselect':
      return rangeSubselect(body, ctx, lateral);
    case 'RangeFunction':
      return rangeFunction(body, ctx, lateral);
    case 'JoinExpr':
      return joinExpr(body, ctx, lateral);
    case 'RangeTableSample':
      throw new Unanalysable('TABLESAMPLE');
    case 'RangeTableFunc':
      throw new Unanalysable('XMLTABLE');
    default:
      throw new Unanalysable(`${type} in FROM`);
  }
}

function single(entry: EntryId, relVisible = true): ItemResult {
  return { items: [{ entry, relVisible, colsVisible: true }], leaves: [entry], top: entry };
}

function aliasOf(value: unknown): { name: string | null; columns: readonly string[] } {
  const alias = optionalBody(value, 'alias');
  if (!alias) return { name: null, columns: [] };
  checkFields('Alias', alias, F.Alias);
  return { name: string(alias['aliasname'], 'alias'), columns: nameList(alias['colnames'], 'column aliases') };
}

function rangeVar(body: AstBody, ctx: FromCtx): ItemResult {
  checkFields('RangeVar', body, F.RangeVar);
  if (body['catalogname'] !== undefined) throw new Unanalysable('a database-qualified table name');
  const schema = optionalString(body['schemaname'], 'schema name');
  const name = string(body['relname'], 'table name');
  const alias = aliasOf(body['alias']);
  const location = int(body['location'], 'location');
  const id = ctx.b.nextEntryId();
  // Only an unqualified name can mean a WITH query; `public.traces` is always the table.
  const cte = schema === null ? findCte(ctx.ctes, name) : null;
  if (cte) {
    // An alias list renames the first columns; the WITH query's own names (from its
    // column list) stay on the rest, as Postgres applies them.
    const columnAliases = [...alias.columns, ...cte.columnAliases.slice(alias.columns.length)];
    ctx.b.addEntry({ type: 'cte', id, refname: alias.name ?? name, name, query: cte.query, columnAliases });
    return single(id);
  }
  // `FROM traces AS t(a, b)` renames the table's first columns by position, which this
  // analyser cannot map to names without the catalog: refuse rather than guess.
  if (alias.columns.length) throw new Unanalysable('column aliases on a table (FROM t AS x(a, b))');
  ctx.b.addEntry({ type: 'relation', id, refname: alias.name ?? name, relation: { schema, name, alias: alias.name, scope: ctx.scope, location } });
  return single(id);
}

function rangeSubselect(body: AstBody, ctx: FromCtx, lateral: readonly NamespaceItem[]): ItemResult {
  checkFields('RangeSubselect', body, F.RangeSubselect);
  const alias = aliasOf(body['alias']);
  const env = bool(body['lateral']) ? { frame: lateral, outer: ctx.outer } : ctx.outer;
  const query = ctx.subquery(body['subquery'], 'derived', env, ctx.ctes);
  const id = ctx.b.addEntry({ type: 'subquery', id: ctx.b.nextEntryId(), refname: alias.name, query, columnAliases: alias.columns });
  return single(id, alias.name !== null);
}

function rangeFunction(body: AstBody, ctx: FromCtx, lateral: readonly NamespaceItem[]): ItemResult {
  checkFields('RangeFunction', body, F.RangeFunction);
  const alias = aliasOf(body['alias']);
  const exprCtx: ExprCtx = {
    b: ctx.b,
    env: { frame: lateral, outer: ctx.outer },
    ctes: ctx.ctes,
    clause: 'function in from',
    via: null,
    depth: ctx.depth + 1,
    subquery: (stmt, env, ctes) => ctx.subquery(stmt, 'sublink', env, ctes),
  };
  const functions = list(body['functions'], 'FROM functions');
  const outerDefs = columnDefinitions(body['coldeflist'], exprCtx);
  let columns: string[] | null = [];
  let firstName: string | null = null;
  const calls: { value: ValueRef; definitions: readonly TypeRef[] | null }[] = [];
  for (const f of functions) {
    const { type, body: pair } = unwrap(f);
    if (type !== 'List') throw new Unanalysable(`${type} in FROM functions`);
    checkFields(type, pair, F.List);
    const [call, defs] = list(pair['items'], 'FROM function');
    const { type: callType, body: callBody } = unwrap(call);
    if (callType !== 'FuncCall') throw new Unanalysable(`${callType} as a function in FROM`);
    const { fn, value } = analyzeFuncCall(callBody, exprCtx);
    firstName ??= fn.name;
    const itemDefs = rowsFromDefinitions(defs, exprCtx);
    const scalarName = functions.length === 1 && alias.name !== null ? alias.name : fn.name;
    const definitions = itemDefs ?? (functions.length === 1 ? outerDefs : null);
    calls.push({ value, definitions: definitions && definitions.map((d) => d.type) });
    const fnColumns = functionColumns(fn.name, list(callBody['args'], 'arguments').length, definitions && definitions.map((d) => d.name), scalarName);
    columns = columns === null || fnColumns === null ? null : [...columns, ...fnColumns];
  }
  if (columns !== null && bool(body['ordinality'])) columns.push('ordinality');
  if (alias.columns.length) {
    columns = columns === null ? null : columns.map((c, i) => alias.columns[i] ?? c);
  }
  const id = ctx.b.addEntry({ type: 'function', id: ctx.b.nextEntryId(), refname: alias.name ?? firstName, columns });
  for (const c of calls) ctx.b.addRoot(c.value, 'function in from', { fromFunction: { entry: id, definitions: c.definitions } });
  return single(id);
}

interface ColumnDefinition {
  readonly name: string;
  readonly type: TypeRef;
}

/** ROWS FROM (f() AS (a text)): each function's own definition list, or `{}` for none. */
function rowsFromDefinitions(defs: unknown, ctx: ExprCtx): ColumnDefinition[] | null {
  if (defs === undefined || (isObject(defs) && Object.keys(defs).length === 0)) return null;
  const { type, body } = unwrap(defs);
  if (type !== 'List') throw new Unanalysable(`${type} as a column definition list`);
  checkFields(type, body, F.List);
  return columnDefinitions(body['items'], ctx);
}

function columnDefinitions(value: unknown, ctx: ExprCtx): ColumnDefinition[] | null {
  if (value === undefined) return null;
  return list(value, 'column definitions').map((d) => {
    const { type, body } = unwrap(d);
    if (type !== 'ColumnDef') throw new Unanalysable(`${type} in a column definition list`);
    checkFields(type, body, F.ColumnDef);
    const ref = typeNameRef(body['typeName'], ctx);
    return { name: string(body['colname'], 'column name'), type: ref };
  });
}

function joinExpr(body: AstBody, ctx: FromCtx, lateral: readonly NamespaceItem[]): ItemResult {
  checkFields('JoinExpr', body, F.JoinExpr);
  // NATURAL joins on every same-named column, which needs the catalog to know; an
  // unknown equality could also compare a masked column.
  if (bool(body['isNatural'])) throw new Unanalysable('NATURAL JOIN (join with ON or USING)');
  if (body['join_using_alias'] !== undefined) throw new Unanalysable('JOIN ... USING (...) AS alias');
  const joinType = JOIN_TYPES[String(body['jointype'])];
  if (!joinType) throw new Unanalysable(`join type ${String(body['jointype'])}`);
  const alias = aliasOf(body['alias']);
  if (alias.columns.length) throw new Unanalysable('column aliases on a join');

  const left = analyzeFromItem(body['larg'], ctx, lateral);
  const right = analyzeFromItem(body['rarg'], ctx, [...lateral, ...left.items]);
  const using = list(body['usingClause'], 'USING').map((n) => stringNode(n, 'USING'));
  const id = ctx.b.addEntry({ type: 'join', id: ctx.b.nextEntryId(), refname: alias.name, joinType, left: left.top, right: right.top, using });

  const restricts = joinType === 'inner' ? [...left.leaves, ...right.leaves] : joinType === 'left' ? right.leaves : joinType === 'right' ? left.leaves : [];
  const exprCtx: ExprCtx = {
    b: ctx.b,
    env: { frame: [...left.items, ...right.items], outer: ctx.outer },
    ctes: ctx.ctes,
    clause: 'join condition',
    via: null,
    depth: ctx.depth + 1,
    subquery: (stmt, env, ctes) => ctx.subquery(stmt, 'sublink', env, ctes),
  };
  if (body['quals'] !== undefined) addConjuncts(body['quals'], exprCtx, restricts);
  for (const column of using) {
    const l = ctx.b.addUse({ type: 'column', qualifier: null, name: column }, { frame: left.items, outer: null }, { type: 'expression', clause: 'join using', via: null }, -1);
    const r = ctx.b.addUse({ type: 'column', qualifier: null, name: column }, { frame: right.items, outer: null }, { type: 'expression', clause: 'join using', via: null }, -1);
    ctx.b.conjuncts.push({ restricts, left: { type: 'column', use: l }, right: { type: 'column', use: r }, location: -1 });
    const equals = ctx.b.addExpr({ type: 'operator', name: { schema: null, name: '=', location: -1 }, form: 'op', args: [{ type: 'use', use: l }, { type: 'use', use: r }] });
    ctx.b.addRoot(equals, 'join using');
  }

  const hidden = (items: readonly NamespaceItem[]): NamespaceItem[] =>
    items.map((i) => ({ entry: i.entry, relVisible: alias.name === null && i.relVisible, colsVisible: false }));
  return {
    items: [...hidden(left.items), ...hidden(right.items), { entry: id, relVisible: alias.name !== null, colsVisible: true }],
    leaves: [...left.leaves, ...right.leaves],
    top: id,
  };
}
