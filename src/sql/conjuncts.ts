// Splits a WHERE or JOIN ON condition into its top-level AND conjuncts and records each
// `x = y` among them as a candidate pin, with the relations it restricts. Only a
// top-level conjunct is guaranteed to hold for every returned row: anything under OR,
// NOT, CASE or a function may be false while the row is still returned. The whole
// condition is still analysed as an expression, so every column, function and operator
// in it is recorded.
import { checkFields, fieldSet, unwrap } from './ast.js';
import { analyzeExpr, operatorRef, type ExprCtx } from './expr-analyzer.js';
import type { EntryId, Operand } from './facts.js';
import { pinValue } from './pin-operand.js';

const A_EXPR_FIELDS = fieldSet('kind', 'name', 'lexpr', 'rexpr', 'location');
const BOOL_EXPR_FIELDS = fieldSet('boolop', 'args', 'location');

export function addConjuncts(condition: unknown, ctx: ExprCtx, restricts: readonly EntryId[]): void {
  for (const conjunct of topLevelConjuncts(condition)) {
    if (!equality(conjunct, ctx, restricts)) analyzeExpr(conjunct, ctx);
  }
}

function topLevelConjuncts(node: unknown): unknown[] {
  const { type, body } = unwrap(node);
  if (type !== 'BoolExpr' || body['boolop'] !== 'AND_EXPR') return [node];
  checkFields(type, body, BOOL_EXPR_FIELDS);
  const args = Array.isArray(body['args']) ? body['args'] : [];
  return args.flatMap(topLevelConjuncts);
}

/** Handles `left = right` (plain or OPERATOR(pg_catalog.=)); false when the node is anything else. */
function equality(node: unknown, ctx: ExprCtx, restricts: readonly EntryId[]): boolean {
  const { type, body } = unwrap(node);
  if (type !== 'A_Expr' || body['kind'] !== 'AEXPR_OP' || body['lexpr'] === undefined || body['rexpr'] === undefined) return false;
  checkFields(type, body, A_EXPR_FIELDS);
  ctx.b.visit(ctx.depth);
  const op = operatorRef(body['name'], ctx);
  const inner: ExprCtx = { ...ctx, depth: ctx.depth + 1, via: `operator ${op.name}` };
  const leftUse = analyzeExpr(body['lexpr'], inner);
  const rightUse = analyzeExpr(body['rexpr'], inner);
  if (op.name !== '=' || (op.schema !== null && op.schema !== 'pg_catalog')) return true;
  const left = operand(body['lexpr'], leftUse);
  const right = operand(body['rexpr'], rightUse);
  if (left && right && (left.type === 'column' || right.type === 'column')) {
    ctx.b.conjuncts.push({ restricts, left, right, location: typeof body['location'] === 'number' ? body['location'] : -1 });
  }
  return true;
}

function operand(node: unknown, use: number | null): Operand | null {
  if (use !== null) return { type: 'column', use };
  return pinValue(node);
}
