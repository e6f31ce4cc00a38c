// The name Postgres gives an unaliased output column (its FigureColname), so that a
// reference to a subquery's or CTE's column finds the output Postgres would find. Only
// the shapes that can carry a value through unchanged must be exact (column references
// and whole-row forms); for the rest a wrong guess makes a reference unresolvable, which
// the policy treats as "cannot prove", never as "safe".
import { isObject, unwrap } from './ast.js';

const UNNAMED = '?column?';

export function figureColname(node: unknown): string {
  return figure(node)[0];
}

/** [name, strength]: 2 is a real name, 1 a fallback that an outer cast may override. */
function figure(node: unknown): readonly [string, number] {
  if (!isObject(node)) return [UNNAMED, 0];
  const { type, body } = unwrap(node);
  switch (type) {
    case 'ColumnRef': {
      const fields = Array.isArray(body['fields']) ? body['fields'] : [];
      const last = lastString(fields);
      return last === null ? [UNNAMED, 0] : [last, 2];
    }
    case 'A_Indirection': {
      const last = lastString(Array.isArray(body['indirection']) ? body['indirection'] : []);
      return last === null ? figure(body['arg']) : [last, 2];
    }
    case 'FuncCall': {
      const last = lastString(Array.isArray(body['funcname']) ? body['funcname'] : []);
      return last === null ? [UNNAMED, 0] : [last, 2];
    }
    case 'A_Expr':
      return body['kind'] === 'AEXPR_NULLIF' ? ['nullif', 2] : [UNNAMED, 0];
    case 'TypeCast': {
      const inner = figure(body['arg']);
      if (inner[1] > 1) return inner;
      const typeName = body['typeName'];
      const last = isObject(typeName) && Array.isArray(typeName['names']) ? lastString(typeName['names']) : null;
      return last === null ? inner : [last, 1];
    }
    case 'CollateClause':
      return figure(body['arg']);
    case 'CaseExpr': {
      const inner = figure(body['defresult']);
      return inner[1] > 1 ? inner : ['case', 1];
    }
    case 'A_ArrayExpr':
      return ['array', 2];
    case 'RowExpr':
      return ['row', 2];
    case 'CoalesceExpr':
      return ['coalesce', 2];
    case 'MinMaxExpr':
      return [body['op'] === 'IS_LEAST' ? 'least' : 'greatest', 2];
    case 'GroupingFunc':
      return ['grouping', 2];
    case 'SQLValueFunction':
      return [sqlValueFunctionName(body['op']) ?? UNNAMED, 2];
    case 'SubLink':
      switch (body['subLinkType']) {
        case 'EXISTS_SUBLINK':
          return ['exists', 2];
        case 'ARRAY_SUBLINK':
          return ['array', 2];
        case 'EXPR_SUBLINK':
          return subselectFirstName(body['subselect']);
        default:
          return [UNNAMED, 0];
      }
    default:
      return [UNNAMED, 0];
  }
}

function subselectFirstName(subselect: unknown): readonly [string, number] {
  if (!isObject(subselect)) return [UNNAMED, 0];
  const { body } = unwrap(subselect);
  const first = Array.isArray(body['targetList']) ? body['targetList'][0] : undefined;
  if (!isObject(first)) return [UNNAMED, 0];
  const { body: target } = unwrap(first);
  if (typeof target['name'] === 'string') return [target['name'], 2];
  return figure(target['val']);
}

function lastString(nodes: readonly unknown[]): string | null {
  const last = nodes[nodes.length - 1];
  if (!isObject(last)) return null;
  const s = last['String'];
  return isObject(s) && typeof s['sval'] === 'string' ? s['sval'] : null;
}

const SQL_VALUE_FUNCTIONS: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
};

/** The SQL keyword functions (CURRENT_USER, CURRENT_DATE ...) by their parse-tree op. */
export function sqlValueFunctionName(op: unknown): string | null {
  return typeof op === 'string' ? (SQL_VALUE_FUNCTIONS[op] ?? null) : null;
}
