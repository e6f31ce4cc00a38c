// What a table name in a statement refers to: a configured trace table, one of the
// type-metadata catalogs drivers read without a grant, or something nobody may read.
// Unqualified names resolve as the upstream session resolves them: pg_catalog first
// (it is implicitly ahead of the path), then the session's fixed search_path schema.
// pg_temp is never a trace table, whatever its name.
import type { RelationRef } from '../sql/facts.js';
import type { Policy, TraceTable } from './types.js';

export type RelationClass =
  | { readonly type: 'trace'; readonly table: TraceTable }
  | { readonly type: 'catalog'; readonly name: string; readonly restricted: ReadonlySet<string> }
  | { readonly type: 'denied'; readonly reason: string };

// Type metadata the drivers read (node-postgres reads none; psycopg, pgjdbc, asyncpg and
// Npgsql read these), with the columns in them that expose more than names and types:
// a column's missing value is table data, function source and configs may hold
// secrets, ACLs name roles, and page/tuple counts are statistics about other tables.
const HOUSEKEEPING_CATALOGS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['pg_type', new Set<string>()],
  ['pg_namespace', new Set<string>()],
  ['pg_range', new Set<string>()],
  ['pg_enum', new Set<string>()],
  ['pg_attribute', new Set(['attmissingval', 'attacl', 'attoptions', 'attfdwoptions'])],
  ['pg_class', new Set(['reltuples', 'relpages', 'relallvisible', 'relacl', 'reloptions', 'relpartbound'])],
  ['pg_proc', new Set(['prosrc', 'probin', 'proconfig', 'proacl', 'prosqlbody'])],
  ['pg_collation', new Set<string>()],
]);

const NEVER_READABLE: ReadonlyMap<string, string> = new Map([
  ['pg_authid', 'holds password hashes'],
  ['pg_shadow', 'holds password hashes'],
  ['pg_user_mapping', 'holds foreign-server credentials'],
  ['pg_user_mappings', 'holds foreign-server credentials'],
  ['pg_statistic', 'holds sampled column values from every table'],
  ['pg_statistic_ext_data', 'holds sampled column values from every table'],
  ['pg_stats', 'holds sampled column values from every table'],
  ['pg_stats_ext', 'holds sampled column values from every table'],
  ['pg_stats_ext_exprs', 'holds sampled column values from every table'],
  ['pg_stat_activity', "shows other sessions' queries"],
  ['pg_largeobject', 'holds large object data'],
  ['pg_largeobject_metadata', 'describes large objects'],
  ['pg_settings', 'exposes server settings'],
  ['pg_file_settings', 'exposes server configuration files'],
  ['pg_hba_file_rules', 'exposes server configuration files'],
]);

export function classifyRelation(ref: RelationRef, policy: Policy): RelationClass {
  const schema = ref.schema ?? (ref.name.startsWith('pg_') ? 'pg_catalog' : policy.searchPath);
  const qualified = `${schema}.${ref.name}`;
  if (schema === 'pg_temp' || schema.startsWith('pg_temp_') || schema.startsWith('pg_toast')) {
    return { type: 'denied', reason: `${qualified} is not a trace table (temporary and toast schemas are never readable)` };
  }
  if (schema === 'pg_catalog') {
    const never = NEVER_READABLE.get(ref.name);
    if (never) return { type: 'denied', reason: `catalog ${qualified} is never readable: it ${never}` };
    const restricted = HOUSEKEEPING_CATALOGS.get(ref.name);
    if (restricted) return { type: 'catalog', name: ref.name, restricted };
    return { type: 'denied', reason: `catalog ${qualified} is not readable: only type metadata (pg_type, pg_namespace, pg_range, pg_enum, pg_attribute, pg_class, pg_proc, pg_collation) is` };
  }
  if (schema === 'information_schema') return { type: 'denied', reason: `${qualified} is not readable: read type metadata from pg_catalog` };
  const table = policy.traceTableByName.get(qualified);
  if (table) return { type: 'trace', table };
  return { type: 'denied', reason: `table ${qualified} is not readable: it is not a trace table` };
}
