// The row and byte limits bound a result, not each page of it: the Executes of one
// portal (a row limit suspends it, the next Execute resumes the same result) share one
// count, so paging in Executes of maxRows rows meets 54000 as one Execute would.
import { describe, expect, it } from 'vitest';
import type { ResponseMessage, ResponseRecorder, StatementCompletion } from '../../../src/audit/store.js';
import { Request, type RequestDeps, type Usage } from '../../../src/gate/request.js';
import { GrantRegistry } from '../../../src/grants/grant-registry.js';
import { ResultPlans } from '../../../src/gate/result-plans.js';
import { ColumnCatalog } from '../../../src/masking/catalog.js';
import { createMasker } from '../../../src/masking/masker.js';
import type { QueryFn } from '../../../src/upstream/lookups.js';

const ROW = Buffer.from([0x44, 0, 0, 0, 10, 0, 1, 0, 0, 0, 0]);
const SUSPENDED = Buffer.from([0x73, 0, 0, 0, 4]);

function recorder(): ResponseRecorder & { events: ResponseMessage[]; ended: StatementCompletion[] } {
  const events: ResponseMessage[] = [];
  const ended: StatementCompletion[] = [];
  return { statementId: 's', truncated: false, events, ended, add: (m) => events.push(m), end: (c) => ended.push(c) };
}

function deps(cancels: { n: number }): RequestDeps {
  const query = (async () => []) as unknown as QueryFn;
  return {
    masker: createMasker({ detectors: [], columns: [] }),
    plans: new ResultPlans(new ColumnCatalog(), query),
    grants: new GrantRegistry(() => 0),
    controls: { cancelUpstream: () => void cancels.n++, notice: () => undefined },
    now: () => 0,
    onComplete: () => undefined,
  };
}

/** One Execute of maxRows 2 against limit 2: its rows as the client gets them, and how it ends. */
function page(usage: Usage | undefined, cancels: { n: number }): { sent: number; end: Buffer } {
  const request = new Request(deps(cancels), 'r', recorder(), { maxRows: 2, maxBytes: 1 << 20 }, true, null, 1, usage);
  const [execution] = request.executions(1);
  if (!execution) throw new Error('no execution');
  execution.describe(null);
  let sent = 0;
  for (let i = 0; i < 2; i++) if (execution.row(ROW)) sent++;
  return { sent, end: execution.complete(SUSPENDED, { suspended: true }) };
}

describe('limits across the Executes of one portal', () => {
  it('a second page of the same portal is cut off with 54000 once the rows so far reach maxRows', () => {
    const cancels = { n: 0 };
    const usage: Usage = { rows: 0, bytes: 0 };
    const first = page(usage, cancels);
    expect(first.sent).toBe(2);
    expect(first.end).toEqual(SUSPENDED);
    const second = page(usage, cancels);
    expect(second.sent).toBe(0);
    expect(second.end[0]).toBe(0x45);
    expect(second.end.toString('latin1')).toContain('54000');
    expect(cancels.n).toBe(1);
  });

  it('separate requests (another portal, a Query) count from zero', () => {
    const cancels = { n: 0 };
    expect(page(undefined, cancels)).toEqual({ sent: 2, end: SUSPENDED });
    expect(page(undefined, cancels)).toEqual({ sent: 2, end: SUSPENDED });
    expect(cancels.n).toBe(0);
  });

  it('bytes count across pages too', () => {
    const cancels = { n: 0 };
    const usage: Usage = { rows: 0, bytes: 0 };
    const request = (): Request => new Request(deps(cancels), 'r', recorder(), { maxRows: 100, maxBytes: 3 * ROW.length }, true, null, 1, usage);
    const [a] = request().executions(1);
    a?.describe(null);
    expect(a?.row(ROW)).toBe(ROW);
    expect(a?.row(ROW)).toBe(ROW);
    a?.complete(SUSPENDED, { suspended: true });
    const [b] = request().executions(1);
    b?.describe(null);
    expect(b?.row(ROW)).toBe(ROW);
    expect(b?.row(ROW)).toBeNull();
    expect(b?.complete(SUSPENDED, { suspended: true })[0]).toBe(0x45);
  });
});
