// Resolves what RowDescription says about a result column to catalog names, so column
// rules follow a column through aliases, subqueries and joins:
//   - a column's origin (table OID, column number) to `schema.table` and column name;
//   - a field whose TYPE is a table's row type (SELECT t FROM traces t) or an array of
//     one (array_agg(t)) to that table's columns, so whole-row values are masked by the
//     same rules, field by field.
// Entries are loaded per relation with the proxy's own upstream credential and cached.
//
// Refresh rule. A relation OID never names another relation while it exists, and a
// column number never names another column (attnum is not reused; new columns get new
// numbers). What can change: a column or table RENAME or a schema move, which keeps the
// numbers and changes the names, and a column added to a row type. So:
//   - a field whose table OID is not cached, whose column number the cached entry lacks
//     (a column added since), or whose non-built-in type OID has not been looked up, is
//     reported by missing() and must be loaded before the result is planned;
//   - an OID the catalog does not have is cached as unknown: planResult then NULLs that
//     column (fail closed), and treats that type as no row type, until invalidate();
//   - the owner calls invalidate() on a timer (every 60 s is plenty: renaming a ruled
//     column is a DDL event the masking policy should be reviewed for anyway), and after
//     any statement error that says a relation or type does not exist (42P01, 42704),
//     and on a DataRow whose row-type value does not have the cached field count (the
//     masker NULLs such a value meanwhile).
// No I/O of its own: the SQL runs through the query function the caller supplies.
import type { ColumnRef, RowColumn, RowTypeRef } from './masker.js';
import { FIRST_NORMAL_OID } from './pg-types.js';

export type CatalogQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

interface FieldOrigin {
  tableOid: number;
  columnNumber: number;
  typeOid: number;
}

interface Relation {
  table: string;
  columns: Map<number, string>;
}

// One query answers both questions: $1 holds table OIDs and type OIDs alike. Dropped
// columns keep their attnum but are neither in a RowDescription nor in a row value. A
// domain column is described by its base type, as RowDescription describes domains.
export const COLUMN_CATALOG_SQL = `SELECT c.oid::int8 AS table_oid, c.reltype::int8 AS row_type, rt.typarray::int8 AS row_array_type,
       n.nspname AS schema_name, c.relname AS table_name, a.attnum::int4 AS column_number, a.attname AS column_name,
       COALESCE(NULLIF(t.typbasetype, 0), a.atttypid)::int8 AS column_type
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_type rt ON rt.oid = c.reltype
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE c.oid = ANY($1::pg_catalog.oid[]) OR c.reltype = ANY($1::pg_catalog.oid[]) OR rt.typarray = ANY($1::pg_catalog.oid[])
 ORDER BY c.oid, a.attnum`;

function asNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'bigint') return Number(v);
  return Number.NaN;
}

function asOid(row: Record<string, unknown>, key: string): number {
  const n = asNumber(row[key]);
  if (!Number.isSafeInteger(n)) throw new TypeError(`unexpected ${key} from the column catalog query`);
  return n;
}

function asName(row: Record<string, unknown>, key: string): string {
  const v = row[key];
  if (typeof v !== 'string') throw new TypeError(`unexpected ${key} from the column catalog query`);
  return v;
}

export class ColumnCatalog {
  private relations = new Map<number, Relation | null>();
  /** Row type OID (or array-of-row-type OID) to its table's columns; null: not a row type. */
  private rowTypes = new Map<number, RowTypeRef | null>();
  private changes = 0;

  /** Moves on whenever an answer may have changed (a load or an invalidate): what was derived from older answers is stale. */
  get generation(): number {
    return this.changes;
  }

  /** OIDs among `fields` (table OIDs and type OIDs) to load before the result is planned. */
  missing(fields: readonly FieldOrigin[]): number[] {
    const out = new Set<number>();
    for (const f of fields) {
      if (f.tableOid !== 0 && f.columnNumber > 0) {
        const rel = this.relations.get(f.tableOid);
        if (rel === undefined || (rel !== null && !rel.columns.has(f.columnNumber))) out.add(f.tableOid);
      }
      if (f.typeOid >= FIRST_NORMAL_OID && !this.rowTypes.has(f.typeOid)) out.add(f.typeOid);
    }
    return [...out];
  }

  /** Loads what `oids` name; an OID that names nothing is cached as unknown. */
  async load(oids: readonly number[], query: CatalogQuery): Promise<void> {
    if (oids.length === 0) return;
    const rows = await query(COLUMN_CATALOG_SQL, [oids.map(String)]);
    const relations = new Map<number, Relation>();
    const rowColumns = new Map<number, RowColumn[]>();
    const typeOf = new Map<number, { rowType: number; arrayType: number }>();
    for (const row of rows) {
      const oid = asOid(row, 'table_oid');
      const table = `${asName(row, 'schema_name')}.${asName(row, 'table_name')}`;
      const column = asName(row, 'column_name');
      let rel = relations.get(oid);
      if (rel === undefined) {
        rel = { table, columns: new Map() };
        relations.set(oid, rel);
        rowColumns.set(oid, []);
        typeOf.set(oid, { rowType: asOid(row, 'row_type'), arrayType: asNumber(row['row_array_type']) || 0 });
      }
      rel.columns.set(asOid(row, 'column_number'), column);
      rowColumns.get(oid)?.push({ column, typeOid: asOid(row, 'column_type') });
    }
    for (const [oid, rel] of relations) {
      this.relations.set(oid, rel);
      const types = typeOf.get(oid);
      const columns = rowColumns.get(oid) ?? [];
      if (types && types.rowType !== 0) {
        this.rowTypes.set(types.rowType, { table: rel.table, columns, array: false });
        if (types.arrayType !== 0) this.rowTypes.set(types.arrayType, { table: rel.table, columns, array: true });
      }
    }
    for (const oid of oids) {
      if (!this.relations.has(oid)) this.relations.set(oid, null);
      if (!this.rowTypes.has(oid)) this.rowTypes.set(oid, null);
    }
    this.changes++;
  }

  columnOf(tableOid: number, columnNumber: number): ColumnRef | undefined {
    const rel = this.relations.get(tableOid);
    const column = rel?.columns.get(columnNumber);
    return rel && column !== undefined ? { table: rel.table, column } : undefined;
  }

  /** The table whose row type (or array of it) `typeOid` is; undefined for any other type. */
  rowTypeOf(typeOid: number): RowTypeRef | undefined {
    return this.rowTypes.get(typeOid) ?? undefined;
  }

  /** Forgets everything: the next missing() reports every table and type again. */
  invalidate(): void {
    this.relations = new Map();
    this.rowTypes = new Map();
    this.changes++;
  }
}
