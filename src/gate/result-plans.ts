// The masking plan of a result shape, kept for one session while the same shape comes
// back. A client running one query again and again gets the same frozen fields from the
// relay each time, and planning them again (a rule or detectors per column) would give
// the same plan. A plan is reused only for the same fields object, the same masker (a
// policy reload makes a new one) and the same catalog generation (a load or an
// invalidate may change what a column resolves to).
import type { FieldDescription } from '../../protocol/index.js';
import type { ColumnCatalog } from '../masking/catalog.js';
import type { Masker, ResultMasker } from '../masking/masker.js';
import type { QueryFn } from '../upstream/lookups.js';

interface Planned {
  readonly fields: readonly FieldDescription[];
  readonly masker: Masker;
  readonly generation: number;
  readonly plan: ResultMasker | null;
}

export class ResultPlans {
  private last: Planned | null = null;

  constructor(
    private readonly catalog: ColumnCatalog,
    private readonly query: QueryFn,
  ) {}

  /** Synchronous unless the catalog must be asked about a table first. */
  plan(fields: readonly FieldDescription[], masker: Masker): ResultMasker | null | Promise<ResultMasker | null> {
    const last = this.last;
    if (last && last.fields === fields && last.masker === masker && last.generation === this.catalog.generation) return last.plan;
    const missing = this.catalog.missing(fields);
    if (missing.length === 0) return this.make(fields, masker);
    return this.catalog.load(missing, this.query).then(() => this.make(fields, masker));
  }

  private make(fields: readonly FieldDescription[], masker: Masker): ResultMasker | null {
    const catalog = this.catalog;
    const plan = masker.planResult(fields, (oid, col) => catalog.columnOf(oid, col), {
      exempt: false,
      rowTypeOf: (typeOid) => catalog.rowTypeOf(typeOid),
    });
    // Something invalidated between the load and now leaves columns unresolved, which
    // this plan NULLs (fail closed): right for this statement, not one to keep.
    if (catalog.missing(fields).length === 0) this.last = { fields, masker, generation: catalog.generation, plan };
    return plan;
  }
}
