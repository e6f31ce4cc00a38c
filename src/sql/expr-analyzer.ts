// Walks one expression tree: records every column reference with its context, every
// function, operator, cast type and parameter, and hands subqueries back to the query
// analyser. It is an allow-list: each node type it knows has an exact field list, and
// any other node (XML functions, SQL/JSON constructors of later releases, DEFAULT,
// CURRENT OF ...) makes the statement unanalysable.
import {
  bool,
  checkFields,
  fieldSet,
  int,
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
import type { Clause, ColumnRefForm, Env, QualifiedName, ScopeId, UseContext, UseId } from './facts.js';

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

const A_EXPR_KINDS = new Set([
  'AEXPR_OP',
  'AEXPR_OP_ANY',
  'AEXPR_OP_ALL',
  'AEXPR_DISTINCT',
  'AEXPR_NOT_DISTINCT',
  'AEXPR_NULLIF',
  'AEXPR_IN',
  'AEXPR_LIKE',
  'AEXPR_ILIKE',
  'AEXPR_SIMILAR',
]);
const A_EXPR_BETWEEN = new Set(['AEXPR_BETWEEN', 'AEXPR_NOT_BETWEEN', 'AEXPR_BETWEEN_SYM', 'AEXPR_NOT_BETWEEN_SYM']);
const SUBLINK_TYPES = new Set(['EXISTS_SUBLINK', 'ALL_SUBLINK', 'ANY_SUBLINK', 'ROWCOMPARE_SUBLINK', 'EXPR_SUBLINK', 'ARRAY_SUBLINK']);

function deeper(ctx: ExprCtx, via?: string): ExprCtx {
  return { ...ctx, depth: ctx.depth + 1, via: via ?? ctx.via };
}

/**
 * Analyses `node`; returns the use id when the node is a plain column reference (so a
 * caller can tell `key = 'x'` from `f(key) = 'x'`), otherwise null.
 */
export function analyzeExpr(node: unknown, ctx: ExprCtx): UseId | null {
  ctx.b.visit(ctx.depth);
  const { type, body } = unwrap(node);
  const fields = (F as Readonly<Record<string, ReadonlySet<string>>>)[type];
  if (fields) checkFields(type, body, fields);
  switch (type) {
    case 'ColumnRef': {
      const ref = columnRefForm(body);
      const id = ctx.b.addUse(ref, ctx.env, expressionContext(ctx), int(body['location'], 'location'));
      return ref.type === 'column' ? id : null;
    }
    case 'ParamRef':
      ctx.b.addParam(int(body['number'], 'parameter'));
      return null;
    case 'A_Const':
      return null;
    case 'TypeCast': {
      const typeName = typeNameRef(body['typeName'], ctx);
      analyzeExpr(body['arg'], deeper(ctx, `a cast to ${typeName.name}`));
      return null;
    }
    case 'CollateClause':
      nameList(body['collname'], 'collation name');
      analyzeExpr(body['arg'], deeper(ctx, 'COLLATE'));
      return null;
    case 'A_Expr':
      analyzeAExpr(body, ctx);
      return null;
    case 'BoolExpr':
      for (const arg of list(body['args'], 'BoolExpr')) analyzeExpr(arg, deeper(ctx));
      return null;
    case 'NullTest':
    case 'BooleanTest':
      analyzeExpr(body['arg'], deeper(ctx, type === 'NullTest' ? 'IS NULL' : 'IS TRUE/FALSE'));
      return null;
    case 'FuncCall':
      analyzeFuncCall(body, ctx);
      return null;
    case 'SubLink':
      analyzeSubLink(body, ctx);
      return null;
    case 'CaseExpr': {
      const inner = deeper(ctx, 'CASE');
      if (body['arg'] !== undefined) analyzeExpr(body['arg'], inner);
      for (const w of list(body['args'], 'CASE')) {
        const { type: wt, body: when } = unwrap(w);
        if (wt !== 'CaseWhen') throw new Unanalysable(`${wt} in CASE`);
        checkFields(wt, when, F.CaseWhen);
        analyzeExpr(when['expr'], inner);
        analyzeExpr(when['result'], inner);
      }
      if (body['defresult'] !== undefined) analyzeExpr(body['defresult'], inner);
      return null;
    }
    case 'CoalesceExpr':
    case 'MinMaxExpr':
    case 'RowExpr':
    case 'GroupingFunc': {
      const via = type === 'CoalesceExpr' ? 'coalesce' : type === 'MinMaxExpr' ? 'greatest/least' : type === 'RowExpr' ? 'ROW' : 'GROUPING';
      for (const arg of list(body['args'], type)) analyzeExpr(arg, deeper(ctx, via));
      return null;
    }
    case 'A_ArrayExpr':
      for (const e of list(body['elements'], 'ARRAY')) analyzeExpr(e, deeper(ctx, 'ARRAY'));
      return null;
    case 'SQLValueFunction': {
      const name = sqlValueFunctionName(body['op']);
      if (name === null) throw new Unanalysable(`SQL value function ${String(body['op'])}`);
      ctx.b.functions.push({ schema: null, name, location: int(body['location'], 'location') });
      return null;
    }
    case 'A_Indirection':
      analyzeIndirection(body, ctx);
      return null;
    default:
      throw new Unanalysable(type);
  }
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

function analyzeAExpr(body: AstBody, ctx: ExprCtx): void {
  const kind = body['kind'];
  if (typeof kind !== 'string') throw new Unanalysable('a malformed operator expression');
  let via: string;
  if (A_EXPR_KINDS.has(kind)) {
    const op = operatorRef(body['name'], ctx);
    via = kind === 'AEXPR_NULLIF' ? 'nullif' : `operator ${op.name}`;
  } else if (A_EXPR_BETWEEN.has(kind)) {
    via = 'BETWEEN';
  } else {
    throw new Unanalysable(`operator expression ${kind}`);
  }
  const inner = deeper(ctx, via);
  if (body['lexpr'] !== undefined) analyzeExpr(body['lexpr'], inner);
  const rexpr = body['rexpr'];
  if (rexpr === undefined) return;
  const { type, body: rb } = unwrap(rexpr);
  if (type === 'List') {
    checkFields(type, rb, F.List);
    for (const item of list(rb['items'], 'list')) analyzeExpr(item, inner);
  } else {
    analyzeExpr(rexpr, inner);
  }
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

/** A function call's pieces other than the arguments the caller may treat specially. */
export function analyzeFuncCall(body: AstBody, ctx: ExprCtx, skipFirstArg = false): QualifiedName {
  const fn = functionName(body);
  ctx.b.functions.push(fn);
  const inner = deeper(ctx, `${fn.name}()`);
  list(body['args'], 'function arguments').forEach((arg, i) => {
    if (!(skipFirstArg && i === 0)) analyzeExpr(arg, inner);
  });
  for (const s of list(body['agg_order'], 'aggregate ORDER BY')) analyzeSortBy(s, inner);
  if (body['agg_filter'] !== undefined) analyzeExpr(body['agg_filter'], inner);
  const over = optionalBody(body['over'], 'OVER');
  if (over) analyzeWindowDef(over, inner);
  return fn;
}

export function analyzeSortBy(node: unknown, ctx: ExprCtx): AstBody {
  const { type, body } = unwrap(node);
  if (type !== 'SortBy') throw new Unanalysable(`${type} in ORDER BY`);
  checkFields(type, body, F.SortBy);
  if (body['useOp'] !== undefined) operatorRef(body['useOp'], ctx);
  analyzeExpr(body['node'], deeper(ctx));
  return body;
}

export function analyzeWindowDef(body: AstBody, ctx: ExprCtx): void {
  checkFields('WindowDef', body, F.WindowDef);
  const inner: ExprCtx = { ...deeper(ctx, 'a window'), clause: ctx.clause === 'select list' ? 'window' : ctx.clause };
  for (const p of list(body['partitionClause'], 'PARTITION BY')) analyzeExpr(p, inner);
  for (const s of list(body['orderClause'], 'window ORDER BY')) analyzeSortBy(s, inner);
  if (body['startOffset'] !== undefined) analyzeExpr(body['startOffset'], inner);
  if (body['endOffset'] !== undefined) analyzeExpr(body['endOffset'], inner);
}

function analyzeSubLink(body: AstBody, ctx: ExprCtx): void {
  const kind = body['subLinkType'];
  if (typeof kind !== 'string' || !SUBLINK_TYPES.has(kind)) throw new Unanalysable(`subquery form ${String(kind)}`);
  if (body['operName'] !== undefined) operatorRef(body['operName'], ctx);
  if (body['testexpr'] !== undefined) analyzeExpr(body['testexpr'], deeper(ctx, 'a subquery comparison'));
  ctx.subquery(body['subselect'], ctx.env, ctx.ctes);
}

function analyzeIndirection(body: AstBody, ctx: ExprCtx): void {
  const inner = deeper(ctx, 'a field or subscript access');
  analyzeExpr(body['arg'], inner);
  for (const step of list(body['indirection'], 'indirection')) {
    const { type, body: sb } = unwrap(step);
    if (type === 'String' || type === 'A_Star') continue;
    if (type !== 'A_Indices') throw new Unanalysable(`${type} in a subscript`);
    checkFields(type, sb, F.A_Indices);
    if (sb['lidx'] !== undefined) analyzeExpr(sb['lidx'], inner);
    if (sb['uidx'] !== undefined) analyzeExpr(sb['uidx'], inner);
  }
}

/** Records a type name used in a cast or a column definition list. */
export function typeNameRef(node: unknown, ctx: ExprCtx): QualifiedName {
  const body = optionalBody(node, 'type name');
  if (!body) throw new Unanalysable('a cast without a type');
  checkFields('TypeName', body, F.TypeName);
  if (bool(body['setof']) || bool(body['pct_type'])) throw new Unanalysable('%TYPE or SETOF in a type name');
  const ref = qualified(nameList(body['names'], 'type name'), 'a type name', int(body['location'], 'location'));
  const typmods = list(body['typmods'], 'type modifiers');
  for (const m of typmods) analyzeExpr(m, deeper(ctx, `type ${ref.name}`));
  for (const bound of list(body['arrayBounds'], 'array bounds')) {
    const { type, body: ib } = unwrap(bound);
    if (type !== 'Integer') throw new Unanalysable(`${type} in array bounds`);
    checkFields(type, ib, F.Integer);
  }
  ctx.b.types.push({ ...ref, array: body['arrayBounds'] !== undefined, typmods: typmods.length > 0 });
  return ref;
}
