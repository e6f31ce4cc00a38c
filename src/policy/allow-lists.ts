// What a statement may call: pure, side-effect-free functions and operators, and the
// types it may cast to. Allow-lists, not deny-lists: a function missing here is refused
// even if it is harmless, and the dangerous families carry a specific reason so a
// developer sees why. Only unqualified or pg_catalog-qualified names count: the same
// name in another schema is someone else's code.
import type { QualifiedName } from '../sql/facts.js';

const FUNCTIONS = new Set([
  // aggregates
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'string_agg', 'array_agg',
  'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'stddev', 'stddev_pop',
  'stddev_samp', 'variance', 'var_pop', 'var_samp', 'percentile_cont', 'percentile_disc', 'mode',
  'bit_and', 'bit_or', 'bit_xor', 'corr', 'covar_pop', 'covar_samp', 'regr_avgx', 'regr_avgy',
  'regr_count', 'regr_intercept', 'regr_r2', 'regr_slope', 'regr_sxx', 'regr_sxy', 'regr_syy',
  // window functions
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead',
  'first_value', 'last_value', 'nth_value',
  // text
  'lower', 'upper', 'initcap', 'length', 'char_length', 'character_length', 'octet_length',
  'bit_length', 'substr', 'substring', 'position', 'strpos', 'btrim', 'ltrim', 'rtrim', 'lpad',
  'rpad', 'replace', 'split_part', 'concat', 'concat_ws', 'left', 'right', 'reverse',
  'starts_with', 'regexp_replace', 'regexp_match', 'regexp_matches', 'regexp_split_to_array',
  'regexp_split_to_table', 'regexp_count', 'regexp_instr', 'regexp_like', 'regexp_substr',
  'translate', 'format', 'quote_ident', 'quote_literal', 'quote_nullable', 'to_char', 'to_number',
  'to_date', 'to_timestamp', 'md5', 'sha224', 'sha256', 'sha384', 'sha512', 'encode', 'decode',
  'ascii', 'chr', 'string_to_array', 'array_to_string', 'string_to_table', 'overlay', 'normalize',
  'is_normalized', 'unistr', 'like_escape', 'similar_to_escape', 'similar_escape', 'convert_from',
  'convert_to', 'to_hex', 'pg_client_encoding',
  // numbers
  'abs', 'ceil', 'ceiling', 'floor', 'round', 'trunc', 'sign', 'sqrt', 'cbrt', 'power', 'pow',
  'exp', 'ln', 'log', 'log10', 'mod', 'div', 'pi', 'degrees', 'radians', 'sin', 'cos', 'tan',
  'asin', 'acos', 'atan', 'atan2', 'sinh', 'cosh', 'tanh', 'width_bucket', 'scale', 'min_scale',
  'trim_scale', 'gcd', 'lcm', 'factorial', 'random',
  // date and time
  'now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'date_trunc',
  'date_part', 'extract', 'age', 'make_date', 'make_time', 'make_timestamp', 'make_timestamptz',
  'make_interval', 'date_bin', 'justify_days', 'justify_hours', 'justify_interval', 'isfinite',
  'timezone', 'overlaps', 'current_date', 'current_time', 'current_timestamp', 'localtime',
  'localtimestamp',
  // JSON / JSONB
  'to_json', 'to_jsonb', 'row_to_json', 'array_to_json', 'json_build_object', 'jsonb_build_object',
  'json_build_array', 'jsonb_build_array', 'json_object', 'jsonb_object', 'json_array_elements',
  'jsonb_array_elements', 'json_array_elements_text', 'jsonb_array_elements_text',
  'json_array_length', 'jsonb_array_length', 'json_each', 'jsonb_each', 'json_each_text',
  'jsonb_each_text', 'json_extract_path', 'jsonb_extract_path', 'json_extract_path_text',
  'jsonb_extract_path_text', 'json_object_keys', 'jsonb_object_keys', 'json_typeof',
  'jsonb_typeof', 'jsonb_pretty', 'jsonb_set', 'jsonb_set_lax', 'jsonb_insert', 'jsonb_strip_nulls',
  'json_strip_nulls', 'jsonb_path_query', 'jsonb_path_query_array', 'jsonb_path_query_first',
  'jsonb_path_exists', 'jsonb_path_match', 'json_to_record', 'jsonb_to_record', 'json_to_recordset',
  'jsonb_to_recordset',
  // arrays and series
  'array_length', 'cardinality', 'array_position', 'array_positions', 'array_append',
  'array_prepend', 'array_cat', 'array_remove', 'array_replace', 'unnest', 'array_upper',
  'array_lower', 'array_dims', 'array_ndims', 'generate_subscripts', 'trim_array',
  'generate_series',
  // text search
  'to_tsvector', 'to_tsquery', 'plainto_tsquery', 'phraseto_tsquery', 'websearch_to_tsquery',
  'ts_rank', 'ts_rank_cd', 'ts_headline',
  // metadata that drivers ask for; none reads table data
  'version', 'current_schema', 'current_schemas', 'current_database', 'current_catalog',
  'pg_typeof', 'format_type', 'to_regtype', 'gen_random_uuid',
]);

// Families refused with a reason a developer can act on.
const DENIED_FAMILIES: readonly (readonly [RegExp, string])[] = [
  [/^(pg_read_file|pg_read_binary_file|pg_stat_file|pg_ls_|lo_import|lo_export|pg_file_)/, 'reads or writes server files'],
  [/^(dblink|postgres_fdw)/, 'opens connections to other servers'],
  [/(_to_xml|_to_xmlschema|_to_xml_and_xmlschema)$|^(xpath|query_to_)/, 'runs a string as SQL or reads whole tables'],
  [/^(set_config|current_setting|pg_reload_conf|pg_settings_)/, 'reads or changes server settings'],
  [/^pg_sleep/, 'sleeps'],
  [/^(lo_|loread|lowrite)/, 'touches large objects'],
  [/^(pg_terminate_backend|pg_cancel_backend|pg_signal_backend|pg_rotate_logfile|pg_promote)/, 'signals server processes'],
  [/^(pg_advisory|pg_try_advisory|txid_|pg_current_xact_id|pg_export_snapshot|pg_snapshot_)/, 'takes locks or transaction ids'],
  [/^(nextval|setval|currval|lastval|setseed)$/, 'changes session state'],
  [/^(pg_notify|pg_logical_|pg_replication_|pg_create_.*slot|pg_drop_replication_slot)/, 'sends notifications or touches replication'],
  [/^(pg_stat_|pg_backend_pid|inet_server_|inet_client_|pg_postmaster_start_time|pg_conf_load_time)/, 'reads server state'],
  [/^(current_user|session_user|user|current_role|pg_has_role|has_.*_privilege)$/, "reveals the proxy's upstream role"],
  [/^(pg_get_functiondef|pg_get_viewdef|pg_get_ruledef|pg_get_triggerdef)$/, 'reveals server-side code'],
];

export function functionProblem(fn: QualifiedName): string | null {
  if (fn.schema !== null && fn.schema !== 'pg_catalog') return `function ${fn.schema}.${fn.name} is not allowed: only built-in functions may be called`;
  if (FUNCTIONS.has(fn.name)) return null;
  for (const [pattern, why] of DENIED_FAMILIES) {
    if (pattern.test(fn.name)) return `function ${fn.name} is not allowed: it ${why}`;
  }
  return `function ${fn.name} is not on the allow-list of pure functions`;
}

const OPERATORS = new Set([
  '=', '<>', '!=', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '^', '|/', '||/', '@', '&', '|', '#',
  '~', '<<', '>>', '||', '~~', '!~~', '~~*', '!~~*', '~*', '!~', '!~*', '^@', '->', '->>', '#>', '#>>',
  '@>', '<@', '?', '?|', '?&', '@?', '@@', '#-', '&&', '<->',
]);

export function operatorProblem(op: QualifiedName): string | null {
  if (op.schema !== null && op.schema !== 'pg_catalog') return `operator ${op.schema}.${op.name} is not allowed: only built-in operators may be used`;
  return OPERATORS.has(op.name) ? null : `operator ${op.name} is not on the allow-list`;
}

// Casting runs the target type's input function (and a domain's CHECK expressions), so
// only built-in base types are allowed. Names are as the parser produces them.
const TYPES = new Set([
  'bool', 'int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'text', 'varchar', 'bpchar', 'char',
  'name', 'bytea', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'json', 'jsonb',
  'jsonpath', 'uuid', 'oid', 'regtype', 'regclass', 'regnamespace', 'regproc', 'regprocedure',
  'regconfig', 'inet', 'cidr', 'macaddr', 'money', 'bit', 'varbit', 'tsvector', 'tsquery',
]);

export function typeProblem(t: QualifiedName): string | null {
  if (t.schema !== null && t.schema !== 'pg_catalog') return `type ${t.schema}.${t.name} is not allowed: only built-in types may be cast to`;
  return TYPES.has(t.name) ? null : `type ${t.name} is not on the allow-list of types`;
}
