// Resolves RowDescription column origins (table OID, column number) to catalog names,
// so column rules follow a column through aliases, subqueries and joins. Entries are
// loaded per relation with the proxy's own upstream credential and cached.
//
// Refresh rule. A relation OID never names another relation while it exists, and a
// column number never names another column (attnum is not reused; new columns get new
// numbers). What can change: a column or table RENAME or a schema move, which keeps the
// numbers and changes the names. So:
//   - a field whose table OID is not cached, or whose column number the cached entry
//     lacks (a column added since), is reported by missing() and must be loaded before
//     planning the result;
//   - a relation the catalog no longer has is cached as unknown, and planResult then
//     NULLs its fields (fail closed) until invalidate();
//   - the owner calls invalidate() on a timer (every 60 s is plenty: renaming a ruled
//     column is a DDL event the masking policy should be reviewed for anyway), and after
//     any statement error that says a relation does not exist (42P01).
// No I/O of its own: the SQL runs through the query function the caller supplies.
import type { ColumnRef } from './masker.js';

export type CatalogQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

interface FieldOrigin {
  tableOid: number;
  columnNumber: number;
}

interface Relation {
  table: string;
  columns: Map<number, string>;
}

// Dropped columns keep their attnum but are not returned: a RowDescription never names them.
export const COLUMN_CATALOG_SQL = `SELECT c.oid::int8 AS table_oid, n.nspname AS schema_name, c.relname AS table_name,
       a.attnum::int4 AS column_number, a.attname AS column_name
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.oid = ANY($1::pg_catalog.oid[])`;

function asNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'bigint') return Number(v);
  return Number.NaN;
}

export class ColumnCatalog {
  private relations = new Map<number, Relation | null>();

  /** Table OIDs among `fields` that must be loaded before their columns can be resolved. */
  missing(fields: readonly FieldOrigin[]): number[] {
    const out = new Set<number>();
    for (const f of fields) {
      if (f.tableOid === 0 || f.columnNumber <= 0) continue;
      const rel = this.relations.get(f.tableOid);
      if (rel === undefined || (rel !== null && !rel.columns.has(f.columnNumber))) out.add(f.tableOid);
    }
    return [...out];
  }

  /** Loads the relations for `oids`; an OID the server does not know is cached as unknown. */
  async load(oids: readonly number[], query: CatalogQuery): Promise<void> {
    if (oids.length === 0) return;
    const rows = await query(COLUMN_CATALOG_SQL, [oids.map(String)]);
    const loaded = new Map<number, Relation>();
    for (const row of rows) {
      const oid = asNumber(row['table_oid']);
      const attnum = asNumber(row['column_number']);
      const schema = row['schema_name'];
      const table = row['table_name'];
      const column = row['column_name'];
      if (!Number.isSafeInteger(oid) || !Number.isSafeInteger(attnum) || typeof schema !== 'string' || typeof table !== 'string' || typeof column !== 'string') {
        throw new TypeError('unexpected row shape from the column catalog query');
      }
      let rel = loaded.get(oid);
      if (rel === undefined) {
        rel = { table: `${schema}.${table}`, columns: new Map() };
        loaded.set(oid, rel);
      }
      rel.columns.set(attnum, column);
    }
    for (const oid of oids) this.relations.set(oid, loaded.get(oid) ?? null);
  }

  columnOf(tableOid: number, columnNumber: number): ColumnRef | undefined {
    const rel = this.relations.get(tableOid);
    const column = rel?.columns.get(columnNumber);
    return rel && column !== undefined ? { table: rel.table, column } : undefined;
  }

  /** Forgets everything: the next missing() reports every table again. */
  invalidate(): void {
    this.relations = new Map();
  }
}
