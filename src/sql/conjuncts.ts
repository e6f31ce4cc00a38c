// Splits a WHERE or JOIN ON condition into its top-level AND conjuncts and records each
// `x = y` among them as a candidate pin, with the relations it restricts. Only a
// top-level conjunct is guaranteed to hold for every returned row: anything under OR,
// NOT, CASE or a function may be false while the row is still returned. The whole
// condition is still analysed as an expression, so every column, function and operator
// in it is recorded, and each top-level conjunct is an expression root.
import { checkFields, fieldSet, unwrap } from './ast.js';
import { analyzeExpr, operatorRef, type ExprCtx } from './expr-analyzer.js';
import type { EntryId, Operand, ValueRef } from './facts.js';
import { pinValue } from './pin-operand.js';

const A_EXPR_FIELDS = fieldSet('kind', 'name', 'lexpr', 'rexpr', 'location');
const BOOL_EXPR_FIELDS = fieldSet('boolop', 'args', 'location');

export function addConjuncts(condition: unknown, ctx: ExprCtx, restricts: readonly EntryId[]): void {
  const conjuncts: unknown[] = [];
  topLevelConjuncts(condition, conjuncts);
  for (const conjunct of conjuncts) {
    ctx.b.addRoot(equality(conjunct, ctx, restricts) ?? analyzeExpr(conjunct, ctx), ctx.clause);
  }
}

function topLevelConjuncts(node: unknown, into: unknown[]): void {
  const { type, body } = unwrap(node);
  if (type !== 'BoolExpr' || body['boolop'] !== 'AND_EXPR') {
    into.push(node);
    return;
  }
  checkFields(type, body, BOOL_EXPR_FIELDS);
  const args = Array.isArray(body['args']) ? body['args'] : [];
  for (const arg of args) topLevelConjuncts(arg, into);
}

/** Handles `left = right` (plain or OPERATOR(pg_catalog.=)); null when the node is anything else. */
function equality(node: unknown, ctx: ExprCtx, restricts: readonly EntryId[]): ValueRef | null {
  const { type, body } = unwrap(node);
  if (type !== 'A_Expr' || body['kind'] !== 'AEXPR_OP' || body['lexpr'] === undefined || body['rexpr'] === undefined) return null;
  checkFields(type, body, A_EXPR_FIELDS);
  ctx.b.visit(ctx.depth);
  const op = operatorRef(body['name'], ctx);
  const inner: ExprCtx = { ...ctx, depth: ctx.depth + 1, via: `operator ${op.name}` };
  const leftValue = analyzeExpr(body['lexpr'], inner);
  const rightValue = analyzeExpr(body['rexpr'], inner);
  const value = ctx.b.addExpr({ type: 'operator', name: op, form: 'op', args: [leftValue, rightValue] });
  if (op.name !== '=' || (op.schema !== null && op.schema !== 'pg_catalog')) return value;
  const left = operand(body['lexpr'], leftValue, ctx);
  const right = operand(body['rexpr'], rightValue, ctx);
  if (left && right && (left.type === 'column' || right.type === 'column')) {
    ctx.b.conjuncts.push({ restricts, left, right, location: typeof body['location'] === 'number' ? body['location'] : -1 });
  }
  return value;
}

/** A plain column reference (not `*`), a string literal or a parameter. */
function operand(node: unknown, value: ValueRef, ctx: ExprCtx): Operand | null {
  if (value.type === 'use') return ctx.b.uses[value.use]?.ref.type === 'column' ? { type: 'column', use: value.use } : null;
  return pinValue(node);
}
