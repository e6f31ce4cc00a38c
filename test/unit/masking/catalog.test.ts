import { describe, expect, it } from 'vitest';
import { ColumnCatalog, COLUMN_CATALOG_SQL, type CatalogQuery } from '../../../src/masking/catalog.js';

interface Row {
  table_oid: string;
  row_type: string;
  row_array_type: string;
  schema_name: string;
  table_name: string;
  column_number: number;
  column_name: string;
  column_type: string;
}

function fakeCatalog(rows: Row[]): { query: CatalogQuery; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const query: CatalogQuery = async (sql, params) => {
    expect(sql).toBe(COLUMN_CATALOG_SQL);
    calls.push(params);
    const oids = new Set((params[0] as string[]).map(String));
    return rows.filter((r) => oids.has(r.table_oid) || oids.has(r.row_type) || oids.has(r.row_array_type)).map((r) => ({ ...r }));
  };
  return { query, calls };
}

const base = { table_oid: '16384', row_type: '16386', row_array_type: '16385', schema_name: 'public', table_name: 'traces' };
const traces: Row[] = [
  { ...base, column_number: 1, column_name: 'trace_id', column_type: '25' },
  { ...base, column_number: 3, column_name: 'user_email', column_type: '25' },
];
const f = (tableOid: number, columnNumber: number, typeOid = 25) => ({ tableOid, columnNumber, typeOid });

describe('ColumnCatalog', () => {
  it('reports unknown tables, loads them in one query and resolves columns', async () => {
    const cat = new ColumnCatalog();
    const { query, calls } = fakeCatalog(traces);
    const missing = cat.missing([f(16384, 1), f(16384, 3), f(0, 0), f(16384, -1)]);
    expect(missing).toEqual([16384]);
    await cat.load(missing, query);
    expect(calls).toEqual([[['16384']]]);
    expect(cat.columnOf(16384, 3)).toEqual({ table: 'public.traces', column: 'user_email' });
    expect(cat.columnOf(16384, 2)).toBeUndefined();
    expect(cat.missing([f(16384, 1), f(16384, 3)])).toEqual([]);
  });

  it('reports a table again when a field names a column it did not have (added since)', async () => {
    const cat = new ColumnCatalog();
    await cat.load([16384], fakeCatalog(traces).query);
    expect(cat.missing([f(16384, 7)])).toEqual([16384]);
  });

  it('caches a relation the server does not know as unknown, until invalidated', async () => {
    const cat = new ColumnCatalog();
    const { query, calls } = fakeCatalog(traces);
    await cat.load([99999], query);
    expect(cat.missing([f(99999, 1)])).toEqual([]);
    expect(cat.columnOf(99999, 1)).toBeUndefined();
    cat.invalidate();
    expect(cat.missing([f(99999, 1), f(16384, 1)])).toEqual([99999, 16384]);
    expect(calls).toHaveLength(1);
  });

  it('sees a rename after invalidate', async () => {
    const cat = new ColumnCatalog();
    const rows = traces.map((r) => ({ ...r }));
    await cat.load([16384], fakeCatalog(rows).query);
    (rows[1] as Row).column_name = 'email';
    expect(cat.rowTypeOf(16386)?.columns[1]?.column).toBe('user_email');
    expect(cat.columnOf(16384, 3)?.column).toBe('user_email');
    cat.invalidate();
    await cat.load([16384], fakeCatalog(rows).query);
    expect(cat.columnOf(16384, 3)?.column).toBe('email');
  });

  it('does not query for nothing', async () => {
    const { query, calls } = fakeCatalog(traces);
    await new ColumnCatalog().load([], query);
    expect(calls).toEqual([]);
  });

  it('refuses rows of an unexpected shape', async () => {
    const bad: CatalogQuery = async () => [{ table_oid: 'x' }];
    await expect(new ColumnCatalog().load([1], bad)).rejects.toThrow(TypeError);
  });

  it('resolves row types and arrays of them, asking once for types that are neither', async () => {
    const cat = new ColumnCatalog();
    const { query, calls } = fakeCatalog(traces);
    const missing = cat.missing([f(0, 0, 16386), f(0, 0, 16385), f(0, 0, 20000), f(0, 0, 23)]);
    expect(missing).toEqual([16386, 16385, 20000]);
    await cat.load(missing, query);
    const columns = [
      { column: 'trace_id', typeOid: 25 },
      { column: 'user_email', typeOid: 25 },
    ];
    expect(cat.rowTypeOf(16386)).toEqual({ table: 'public.traces', columns, array: false });
    expect(cat.rowTypeOf(16385)).toEqual({ table: 'public.traces', columns, array: true });
    expect(cat.rowTypeOf(20000)).toBeUndefined();
    expect(cat.columnOf(16384, 3)).toEqual({ table: 'public.traces', column: 'user_email' });
    expect(cat.missing([f(0, 0, 16386), f(0, 0, 20000), f(16384, 1)])).toEqual([]);
    expect(calls).toHaveLength(1);
  });

  it('reads only catalog tables, schema-qualified, excluding dropped and system columns', () => {
    expect(COLUMN_CATALOG_SQL).toContain('pg_catalog.pg_class');
    expect(COLUMN_CATALOG_SQL).toContain('pg_catalog.pg_namespace');
    expect(COLUMN_CATALOG_SQL).toContain('pg_catalog.pg_attribute');
    expect(COLUMN_CATALOG_SQL).toContain('NOT a.attisdropped');
    expect(COLUMN_CATALOG_SQL).toContain('a.attnum > 0');
  });
});
