// Walks one expression tree: records every column reference with its context, every
// function, operator, cast type and parameter, and hands subqueries back to the query
// analyser. Each node also becomes an ExprNode whose arguments are ValueRefs, so the
// policy can follow a column's value through the expression. It is an allow-list: each node type it knows has an exact field list, and
// any other node (XML functions, SQL/JSON constructors of later releases, DEFAULT,
// CURRENT OF ...) makes the statement unanalysable.
import {
  bool,
  checkFields,
  fieldSet,
  int,
  isObject,
  list,
  nameList,
  optionalBody,
  stringNode,
  unwrap,
  Unanalysable,
  type AstBody,
} from './ast.js';
import { sqlValueFunctionName } from './column-names.js';
import type { CteScope, FactsBuilder } from './facts-builder.js';
import type { Clause, ColumnRefForm, ConstKind, Env, ExprNode, OperatorForm, QualifiedName, ScopeId, TypeRef, UseContext, ValueRef, WindowValues } from './facts.js';

export interface ExprCtx {
  readonly b: FactsBuilder;
  readonly env: Env;
  readonly ctes: CteScope | null;
  readonly clause: Clause;
  /** The innermost function, operator or cast around the current node, for messages. */
  readonly via: string | null;
  readonly depth: number;
  /** Analyses a subquery inside an expression as a new query level. */
  readonly subquery: (stmt: unknown, env: Env, ctes: CteScope | null) => ScopeId;
}

const F = {
  ColumnRef: fieldSet('fields', 'location'),
  ParamRef: fieldSet('number', 'location'),
  A_Const: fieldSet('ival', 'fval', 'boolval', 'sval', 'bsval', 'isnull', 'location'),
  TypeCast: fieldSet('arg', 'typeName', 'location'),
  CollateClause: fieldSet('arg', 'collname', 'location'),
  A_Expr: fieldSet('kind', 'name', 'lexpr', 'rexpr', 'location'),
  BoolExpr: fieldSet('boolop', 'args', 'location'),
  NullTest: fieldSet('arg', 'nulltesttype', 'argisrow', 'location'),
  BooleanTest: fieldSet('arg', 'booltesttype', 'location'),
  FuncCall: fieldSet('funcname', 'args', 'agg_order', 'agg_filter', 'over', 'agg_within_group', 'agg_star', 'agg_distinct', 'func_variadic', 'funcformat', 'location'),
  SubLink: fieldSet('subLinkType', 'subLinkId', 'testexpr', 'operName', 'subselect', 'location'),
  CaseExpr: fieldSet('arg', 'args', 'defresult', 'location'),
  CaseWhen: fieldSet('expr', 'result', 'location'),
  CoalesceExpr: fieldSet('args', 'location'),
  MinMaxExpr: fieldSet('op', 'args', 'location'),
  SQLValueFunction: fieldSet('op', 'typmod', 'location'),
  A_ArrayExpr: fieldSet('elements', 'location'),
  A_Indirection: fieldSet('arg', 'indirection'),
  A_Indices: fieldSet('is_slice', 'lidx', 'uidx'),
  RowExpr: fieldSet('args', 'row_format', 'colnames', 'location'),
  GroupingFunc: fieldSet('args', 'location'),
  List: fieldSet('items'),
  SortBy: fieldSet('node', 'sortby_dir', 'sortby_nulls', 'useOp', 'location'),
  WindowDef: fieldSet('name', 'refname', 'partitionClause', 'orderClause', 'frameOptions', 'startOffset', 'endOffset', 'location'),
  TypeName: fieldSet('names', 'typeOid', 'setof', 'pct_type', 'typmods', 'typemod', 'arrayBounds', 'location'),
  A_Star: fieldSet(),
  Integer: fieldSet('ival'),
} as const;

const A_EXPR_KINDS: ReadonlyMap<string, OperatorForm> = new Map([
  ['AEXPR_OP', 'op'],
  ['AEXPR_OP_ANY', 'any'],
  ['AEXPR_OP_ALL', 'all'],
  ['AEXPR_DISTINCT', 'distinct'],
  ['AEXPR_NOT_DISTINCT', 'not-distinct'],
  ['AEXPR_NULLIF', 'nullif'],
  ['AEXPR_IN', 'in'],
  ['AEXPR_LIKE', 'like'],
  ['AEXPR_ILIKE', 'ilike'],
  ['AEXPR_SIMILAR', 'similar'],
]);
const A_EXPR_BETWEEN = new Set(['AEXPR_BETWEEN', 'AEXPR_NOT_BETWEEN', 'AEXPR_BETWEEN_SYM', 'AEXPR_NOT_BETWEEN_SYM']);
const SUBLINK_TYPES: ReadonlyMap<string, Extract<ExprNode, { type: 'sublink' }>['kind']> = new Map([
  ['EXISTS_SUBLINK', 'exists'],
  ['ALL_SUBLINK', 'all'],
  ['ANY_SUBLINK', 'any'],
  ['ROWCOMPARE_SUBLINK', 'rowcompare'],
  ['EXPR_SUBLINK', 'expr'],
  ['ARRAY_SUBLINK', 'array'],
]);

function deeper(ctx: ExprCtx, via?: string): ExprCtx {
  return { ...ctx, depth: ctx.depth + 1, via: via ?? ctx.via };
}

/**
 * Analyses `node` and returns its value: the use when it is a column reference (so a
 * caller can tell `key = 'x'` from `f(key) = 'x'`), a literal or parameter, or the node.
 */
export function analyzeExpr(node: unknown, ctx: ExprCtx): ValueRef {
  ctx.b.visit(ctx.depth);
  const { type, body } = unwrap(node);
  const fields = (F as Readonly<Record<string, ReadonlySet<string>>>)[type];
  if (fields) checkFields(type, body, fields);
  const b = ctx.b;
  switch (type) {
    case 'ColumnRef': {
      const ref = columnRefForm(body);
      return { type: 'use', use: b.addUse(ref, ctx.env, expressionContext(ctx), int(body['location'], 'location')) };
    }
    case 'ParamRef': {
      const n = int(body['number'], 'parameter');
      b.addParam(n);
      return { type: 'param', number: n };
    }
    case 'A_Const':
      return constValue(body);
    case 'TypeCast': {
      const inner = deeper(ctx, `a cast to ${castName(body['typeName'])}`);
      const { ref: target, typmods } = typeNameValues(body['typeName'], ctx);
      const arg = analyzeExpr(body['arg'], inner);
      return b.addExpr({ type: 'cast', target, arg, typmods });
    }
    case 'CollateClause':
      nameList(body['collname'], 'collation name');
      return b.addExpr({ type: 'collate', arg: analyzeExpr(body['arg'], deeper(ctx, 'COLLATE')) });
    case 'A_Expr':
      return analyzeAExpr(body, ctx);
    case 'BoolExpr':
      return b.addExpr({ type: 'bool', args: list(body['args'], 'BoolExpr').map((arg) => analyzeExpr(arg, deeper(ctx))) });
    case 'NullTest':
    case 'BooleanTest':
      return b.addExpr({
        type: 'test',
        test: type === 'NullTest' ? 'null' : 'bool',
        arg: analyzeExpr(body['arg'], deeper(ctx, type === 'NullTest' ? 'IS NULL' : 'IS TRUE/FALSE')),
      });
    case 'FuncCall':
      return analyzeFuncCall(body, ctx).value;
    case 'SubLink':
      return analyzeSubLink(body, ctx);
    case 'CaseExpr': {
      const inner = deeper(ctx, 'CASE');
      const subject = body['arg'] !== undefined ? analyzeExpr(body['arg'], inner) : null;
      const conditions: ValueRef[] = [];
      const results: ValueRef[] = [];
      for (const w of list(body['args'], 'CASE')) {
        const { type: wt, body: when } = unwrap(w);
        if (wt !== 'CaseWhen') throw new Unanalysable(`${wt} in CASE`);
        checkFields(wt, when, F.CaseWhen);
        conditions.push(analyzeExpr(when['expr'], inner));
        results.push(analyzeExpr(when['result'], inner));
      }
      // No ELSE is ELSE NULL.
      results.push(body['defresult'] !== undefined ? analyzeExpr(body['defresult'], inner) : { type: 'const', kind: 'null', value: null });
      return b.addExpr({ type: 'case', subject, conditions, results });
    }
    case 'CoalesceExpr':
    case 'MinMaxExpr':
    case 'RowExpr':
    case 'GroupingFunc': {
      const via = type === 'CoalesceExpr' ? 'coalesce' : type === 'MinMaxExpr' ? 'greatest/least' : type === 'RowExpr' ? 'ROW' : 'GROUPING';
      const args = list(body['args'], type).map((arg) => analyzeExpr(arg, deeper(ctx, via)));
      const kind = type === 'CoalesceExpr' ? 'coalesce' : type === 'MinMaxExpr' ? 'greatest-least' : type === 'RowExpr' ? 'row' : 'grouping';
      return b.addExpr({ type: kind, args });
    }
    case 'A_ArrayExpr':
      return b.addExpr({ type: 'array', args: list(body['elements'], 'ARRAY').map((e) => analyzeExpr(e, deeper(ctx, 'ARRAY'))) });
    case 'SQLValueFunction': {
      const name = sqlValueFunctionName(body['op']);
      if (name === null) throw new Unanalysable(`SQL value function ${String(body['op'])}`);
      b.functions.push({ schema: null, name, location: int(body['location'], 'location') });
      return b.addExpr({ type: 'sql-value', name });
    }
    case 'A_Indirection':
      return analyzeIndirection(body, ctx);
    default:
      throw new Unanalysable(type);
  }
}

function constValue(body: AstBody): ValueRef {
  if (body['isnull'] === true) return { type: 'const', kind: 'null', value: null };
  const sval = body['sval'];
  if (sval !== undefined) {
    const v = isObject(sval) ? (sval['sval'] ?? '') : '';
    return { type: 'const', kind: 'string', value: typeof v === 'string' ? v : '' };
  }
  const kind: ConstKind = body['ival'] !== undefined || body['fval'] !== undefined ? 'number' : body['boolval'] !== undefined ? 'bool' : body['bsval'] !== undefined ? 'bits' : 'null';
  return { type: 'const', kind, value: null };
}

function castName(typeName: unknown): string {
  const tn = optionalBody(typeName, 'type name');
  const names = tn ? nameList(tn['names'], 'type name') : [];
  return names[names.length - 1] ?? '?';
}

function expressionContext(ctx: ExprCtx): UseContext {
  return { type: 'expression', clause: ctx.clause, via: ctx.via };
}

export function columnRefForm(body: AstBody): ColumnRefForm {
  const fields = list(body['fields'], 'column reference');
  const parts = fields.map((f) => {
    const { type, body: fb } = unwrap(f);
    if (type === 'A_Star') {
      checkFields(type, fb, F.A_Star);
      return null;
    }
    return stringNode(f, 'column reference');
  });
  const [a, b] = parts;
  if (parts.length === 1 && a === null) return { type: 'star', qualifier: null };
  if (parts.length === 1 && typeof a === 'string') return { type: 'column', qualifier: null, name: a };
  if (parts.length === 2 && typeof a === 'string' && b === null) return { type: 'star', qualifier: a };
  if (parts.length === 2 && typeof a === 'string' && typeof b === 'string') return { type: 'column', qualifier: a, name: b };
  throw new Unanalysable('a column reference with more than two parts (write alias.column)');
}

function analyzeAExpr(body: AstBody, ctx: ExprCtx): ValueRef {
  const kind = body['kind'];
  if (typeof kind !== 'string') throw new Unanalysable('a malformed operator expression');
  let via: string;
  let form: OperatorForm;
  let name: QualifiedName;
  const mapped = A_EXPR_KINDS.get(kind);
  if (mapped) {
    name = operatorRef(body['name'], ctx);
    form = mapped;
    via = kind === 'AEXPR_NULLIF' ? 'nullif' : `operator ${name.name}`;
  } else if (A_EXPR_BETWEEN.has(kind)) {
    name = { schema: null, name: 'BETWEEN', location: -1 };
    form = 'between';
    via = 'BETWEEN';
  } else {
    throw new Unanalysable(`operator expression ${kind}`);
  }
  const inner = deeper(ctx, via);
  const args: ValueRef[] = [];
  if (body['lexpr'] !== undefined) args.push(analyzeExpr(body['lexpr'], inner));
  const rexpr = body['rexpr'];
  if (rexpr !== undefined) {
    const { type, body: rb } = unwrap(rexpr);
    if (type === 'List') {
      checkFields(type, rb, F.List);
      for (const item of list(rb['items'], 'list')) args.push(analyzeExpr(item, inner));
    } else {
      args.push(analyzeExpr(rexpr, inner));
    }
  }
  return ctx.b.addExpr({ type: 'operator', name, form, args });
}

/** Records an operator name (`=` or `OPERATOR(schema.=)`). */
export function operatorRef(names: unknown, ctx: ExprCtx): QualifiedName {
  const parts = nameList(names, 'operator name');
  const ref = qualified(parts, 'an operator name', -1);
  ctx.b.operators.push(ref);
  return ref;
}

function qualified(parts: readonly string[], what: string, location: number): QualifiedName {
  const [a, b] = parts;
  if (parts.length === 1 && a !== undefined) return { schema: null, name: a, location };
  if (parts.length === 2 && a !== undefined && b !== undefined) return { schema: a, name: b, location };
  throw new Unanalysable(`${what} with ${parts.length} parts`);
}

export function functionName(body: AstBody): QualifiedName {
  return qualified(nameList(body['funcname'], 'function name'), 'a function name', int(body['location'], 'location'));
}

/**
 * A function call. With `skipFirstArg` (a whole-row form whose argument the caller
 * records itself) the node's arguments start at the second.
 */
export function analyzeFuncCall(body: AstBody, ctx: ExprCtx, skipFirstArg = false): { fn: QualifiedName; value: ValueRef } {
  const fn = functionName(body);
  ctx.b.functions.push(fn);
  const inner = deeper(ctx, `${fn.name}()`);
  const args: ValueRef[] = [];
  list(body['args'], 'function arguments').forEach((arg, i) => {
    if (!(skipFirstArg && i === 0)) args.push(analyzeExpr(arg, inner));
  });
  const order = list(body['agg_order'], 'aggregate ORDER BY').map((s) => analyzeSortBy(s, inner));
  const filter = body['agg_filter'] !== undefined ? analyzeExpr(body['agg_filter'], inner) : null;
  const over = optionalBody(body['over'], 'OVER');
  const window = over ? analyzeWindowDef(over, inner) : null;
  const value = ctx.b.addExpr({ type: 'function', name: fn, args, order, withinGroup: bool(body['agg_within_group']), distinct: bool(body['agg_distinct']), filter, window });
  return { fn, value };
}

/** One ORDER BY item: its value (the caller decides whether it is a root). */
export function analyzeSortBy(node: unknown, ctx: ExprCtx): ValueRef {
  const { type, body } = unwrap(node);
  if (type !== 'SortBy') throw new Unanalysable(`${type} in ORDER BY`);
  checkFields(type, body, F.SortBy);
  if (body['useOp'] !== undefined) operatorRef(body['useOp'], ctx);
  return analyzeExpr(body['node'], deeper(ctx));
}

export function analyzeWindowDef(body: AstBody, ctx: ExprCtx): WindowValues {
  checkFields('WindowDef', body, F.WindowDef);
  const inner: ExprCtx = { ...deeper(ctx, 'a window'), clause: ctx.clause === 'select list' ? 'window' : ctx.clause };
  const partition = list(body['partitionClause'], 'PARTITION BY').map((p) => analyzeExpr(p, inner));
  const order = list(body['orderClause'], 'window ORDER BY').map((s) => analyzeSortBy(s, inner));
  const offsets: ValueRef[] = [];
  if (body['startOffset'] !== undefined) offsets.push(analyzeExpr(body['startOffset'], inner));
  if (body['endOffset'] !== undefined) offsets.push(analyzeExpr(body['endOffset'], inner));
  return { partition, order, offsets };
}

function analyzeSubLink(body: AstBody, ctx: ExprCtx): ValueRef {
  const kindName = body['subLinkType'];
  const kind = typeof kindName === 'string' ? SUBLINK_TYPES.get(kindName) : undefined;
  if (kind === undefined) throw new Unanalysable(`subquery form ${String(kindName)}`);
  const operator = body['operName'] !== undefined ? operatorRef(body['operName'], ctx) : null;
  const test = body['testexpr'] !== undefined ? analyzeExpr(body['testexpr'], deeper(ctx, 'a subquery comparison')) : null;
  const query = ctx.subquery(body['subselect'], ctx.env, ctx.ctes);
  return ctx.b.addExpr({ type: 'sublink', kind, operator, test, query });
}

function analyzeIndirection(body: AstBody, ctx: ExprCtx): ValueRef {
  const inner = deeper(ctx, 'a field or subscript access');
  const arg = analyzeExpr(body['arg'], inner);
  const indexes: ValueRef[] = [];
  for (const step of list(body['indirection'], 'indirection')) {
    const { type, body: sb } = unwrap(step);
    if (type === 'A_Star') continue;
    // `(x).name` is field `name` of x only when x is a composite with such a field;
    // otherwise Postgres runs it as the call name(x) (functional notation), of any
    // function at all: ('...'::text).ts_stat runs a query, ('port'::text).current_setting
    // reads a setting. Without the types the two cannot be told apart: refuse both.
    if (type === 'String') throw new Unanalysable(`a field selection (...).${stringNode(step, 'field name')}, which Postgres runs as the function ${stringNode(step, 'field name')}(...) unless the value has such a field (select the column from a function or subquery in FROM instead)`);
    if (type !== 'A_Indices') throw new Unanalysable(`${type} in a subscript`);
    checkFields(type, sb, F.A_Indices);
    if (sb['lidx'] !== undefined) indexes.push(analyzeExpr(sb['lidx'], inner));
    if (sb['uidx'] !== undefined) indexes.push(analyzeExpr(sb['uidx'], inner));
  }
  return ctx.b.addExpr({ type: 'indirection', arg, indexes });
}

/** Records a type name used in a cast or a column definition list. */
export function typeNameRef(node: unknown, ctx: ExprCtx): TypeRef {
  return typeNameValues(node, ctx).ref;
}

/** A type name and the values of its modifiers (`varchar(10)`: the 10). */
export function typeNameValues(node: unknown, ctx: ExprCtx): { ref: TypeRef; typmods: ValueRef[] } {
  const body = optionalBody(node, 'type name');
  if (!body) throw new Unanalysable('a cast without a type');
  checkFields('TypeName', body, F.TypeName);
  if (bool(body['setof']) || bool(body['pct_type'])) throw new Unanalysable('%TYPE or SETOF in a type name');
  const name = qualified(nameList(body['names'], 'type name'), 'a type name', int(body['location'], 'location'));
  const typmodNodes = list(body['typmods'], 'type modifiers');
  const typmods = typmodNodes.map((m) => analyzeExpr(m, deeper(ctx, `type ${name.name}`)));
  for (const bound of list(body['arrayBounds'], 'array bounds')) {
    const { type, body: ib } = unwrap(bound);
    if (type !== 'Integer') throw new Unanalysable(`${type} in array bounds`);
    checkFields(type, ib, F.Integer);
  }
  const ref: TypeRef = { ...name, array: body['arrayBounds'] !== undefined, typmods: typmodNodes.length > 0 };
  ctx.b.types.push(ref);
  return { ref, typmods };
}
