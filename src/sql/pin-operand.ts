// Which expressions name one fixed text value, so that `key = <it>` pins a trace.
// Only string literals (every lexical form: '', E'', U&'', $$ $$: the parser has already
// decoded them) and bound parameters count, optionally cast to text or varchar without
// a length. Everything else is refused as a pin because it can match more than one key:
//   COLLATE        a nondeterministic collation makes 'a' equal to many strings
//   varchar(n)     truncates: 'abcdef'::varchar(3) is 'abc', not the value seen here
//   char(n)/bpchar pads and compares ignoring trailing blanks
//   name           truncates to 63 bytes
// The function only inspects structure; expr-analyzer records the nodes themselves.
import { isObject, unwrap, type AstBody } from './ast.js';

export type PinValue = { readonly type: 'text'; readonly value: string } | { readonly type: 'param'; readonly number: number };

const PIN_CAST_TYPES = new Set(['text', 'varchar']);

export function pinValue(node: unknown): PinValue | null {
  if (!isObject(node)) return null;
  const { type, body } = unwrap(node);
  switch (type) {
    case 'A_Const': {
      const sval = body['sval'];
      if (!isObject(sval)) return null;
      const value = sval['sval'] ?? '';
      return typeof value === 'string' ? { type: 'text', value } : null;
    }
    case 'ParamRef': {
      const n = body['number'];
      return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? { type: 'param', number: n } : null;
    }
    case 'TypeCast':
      return isTextCast(body['typeName']) ? pinValue(body['arg']) : null;
    default:
      return null;
  }
}

function isTextCast(typeName: unknown): boolean {
  if (!isObject(typeName)) return false;
  const t: AstBody = typeName;
  if (t['typmods'] !== undefined || t['arrayBounds'] !== undefined || t['setof'] === true || t['pct_type'] === true) return false;
  const names = t['names'];
  if (!Array.isArray(names)) return false;
  const parts = names.map((n) => {
    if (!isObject(n)) return null;
    const s = n['String'];
    return isObject(s) && typeof s['sval'] === 'string' ? s['sval'] : null;
  });
  const [first, second] = parts;
  if (parts.length === 1) return first !== null && first !== undefined && PIN_CAST_TYPES.has(first);
  return parts.length === 2 && first === 'pg_catalog' && second !== null && second !== undefined && PIN_CAST_TYPES.has(second);
}
