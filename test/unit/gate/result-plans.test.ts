import { describe, expect, it } from 'vitest';
import type { FieldDescription } from '../../../protocol/backend.js';
import { ResultPlans } from '../../../src/gate/result-plans.js';
import { ColumnCatalog } from '../../../src/masking/catalog.js';
import { createMasker, type ResultMasker } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { REDACTED } from '../../../src/masking/strategies.js';
import type { QueryFn } from '../../../src/upstream/lookups.js';
import { dataRow, field, rowTexts } from '../masking/helpers.js';

const TRACES = 16384;
const table = { table_oid: String(TRACES), row_type: '16386', row_array_type: '16385', schema_name: 'public', table_name: 'traces' };
const masker = createMasker({ detectors: 'all', columns: [{ column: 'public.traces.user_email', strategy: 'redact' }] });

/** The upstream's catalog as the column-catalog query answers it; `columns` can change, as DDL changes them. */
function upstream(columns: Record<number, string>): { query: QueryFn; calls: () => number; columns: Record<number, string> } {
  let calls = 0;
  const query = (async () => {
    calls++;
    return Object.entries(columns).map(([n, name]) => ({ ...table, column_number: Number(n), column_name: name, column_type: String(Oid.text) }));
  }) as QueryFn;
  return { query, calls: () => calls, columns };
}

/** What the relay hands over: frozen fields, the same array while the RowDescription repeats. */
function frozen(...fields: FieldDescription[]): readonly FieldDescription[] {
  return Object.freeze(fields.map((f) => Object.freeze(f)));
}

const aliasOfColumn3 = frozen(field('e', Oid.text, { tableOid: TRACES, columnNumber: 3 }));

async function masked(plans: ResultPlans, fields: readonly FieldDescription[], value: string, m = masker): Promise<string | null> {
  const plan: ResultMasker | null = await plans.plan(fields, m);
  const row = dataRow([value]);
  return rowTexts(plan ? plan.maskDataRow(row) : row)[0] ?? null;
}

describe('ResultPlans', () => {
  it('plans a repeated result shape once, without asking the catalog again', async () => {
    const db = upstream({ 3: 'user_email' });
    const plans = new ResultPlans(new ColumnCatalog(), db.query);
    const first = await plans.plan(aliasOfColumn3, masker);
    const again = plans.plan(aliasOfColumn3, masker);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toBe(first);
    expect(await masked(plans, aliasOfColumn3, 'alice@example.com')).toBe(REDACTED);
    expect(db.calls()).toBe(1);
  });

  it('plans again once the catalog is invalidated, so a renamed column gets its rule', async () => {
    // attnum 3 is `notes` (no rule); then `ALTER TABLE traces RENAME notes TO user_email`.
    const db = upstream({ 3: 'notes' });
    const catalog = new ColumnCatalog();
    const plans = new ResultPlans(catalog, db.query);
    expect(await masked(plans, aliasOfColumn3, 'alice')).toBe('alice');
    db.columns[3] = 'user_email';
    catalog.invalidate();
    expect(await masked(plans, aliasOfColumn3, 'alice')).toBe(REDACTED);
    expect(db.calls()).toBe(2);
  });

  it('plans again under a reloaded policy (a new masker)', async () => {
    const db = upstream({ 3: 'user_email' });
    const plans = new ResultPlans(new ColumnCatalog(), db.query);
    expect(await masked(plans, aliasOfColumn3, 'alice')).toBe(REDACTED);
    const reloaded = createMasker({ detectors: 'all', columns: [{ column: 'public.traces.user_email', strategy: 'partial', keep: 2 }] });
    expect(await masked(plans, aliasOfColumn3, 'alice', reloaded)).toBe('****ce');
  });

  it('plans each result shape by its own fields', async () => {
    const db = upstream({ 3: 'user_email', 4: 'summary' });
    const plans = new ResultPlans(new ColumnCatalog(), db.query);
    const summary = frozen(field('e', Oid.text, { tableOid: TRACES, columnNumber: 4 }));
    for (let i = 0; i < 3; i++) {
      expect(await masked(plans, aliasOfColumn3, 'alice')).toBe(REDACTED);
      expect(await masked(plans, summary, 'alice')).toBe('alice');
    }
  });

  it('does not keep a plan made after its columns were invalidated again', async () => {
    class RacingCatalog extends ColumnCatalog {
      override async load(oids: readonly number[], query: Parameters<ColumnCatalog['load']>[1]): Promise<void> {
        await super.load(oids, query);
        this.invalidate();
      }
    }
    const db = upstream({ 3: 'user_email' });
    const plans = new ResultPlans(new RacingCatalog(), db.query);
    // Unresolved under a column rule: NULL, for this statement only.
    expect(await masked(plans, aliasOfColumn3, 'alice')).toBeNull();
    expect(await masked(plans, aliasOfColumn3, 'alice')).toBeNull();
    expect(db.calls()).toBe(2);
  });
});
