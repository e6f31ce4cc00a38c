// derivation.ts keys a query output by one number (scope * 2^20 + index). An output
// outside that range could not be keyed without colliding with another output's key,
// so such facts are denied as too complex, never allowed. The analyser's node cap keeps
// real statements far below the range: the facts here are a real statement's with one
// output moved out of it.
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSelect } from '../../../src/policy/select-check.js';
import { analyze, initSqlParser } from '../../../src/sql/analyze.js';
import type { SelectFacts } from '../../../src/sql/facts.js';
import { testPolicy } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const TOO_COMPLEX = 'the statement is too complex for the policy to follow how trace columns are used';

function selectFacts(sql: string): SelectFacts {
  const a = analyze(sql);
  const s = a.ok ? a.statements[0] : undefined;
  if (s?.kind !== 'select') throw new Error(`not a select: ${sql}`);
  return s;
}

function withOutput(facts: SelectFacts, output: { scope: number; index: number }): SelectFacts {
  return { ...facts, roots: facts.roots.map((r) => (r.output ? { ...r, output } : r)) };
}

describe('derivation: output keys', () => {
  const facts = (): SelectFacts => selectFacts("SELECT step, content FROM trace_steps WHERE trace_id = 't1'");

  it('follows the statement as analysed', () => {
    expect(checkSelect(facts(), testPolicy, false)).toEqual({ type: 'trace-read', pins: [{ type: 'text', value: 't1' }], typedElsewhere: [] });
  });

  it('keys the largest output in range like any other', () => {
    expect(checkSelect(withOutput(facts(), { scope: 0, index: 2 ** 20 - 1 }), testPolicy, false)).toEqual({ type: 'trace-read', pins: [{ type: 'text', value: 't1' }], typedElsewhere: [] });
  });

  for (const output of [
    { scope: 0, index: 2 ** 20 },
    { scope: 2 ** 20, index: 0 },
    { scope: 0, index: -1 },
    { scope: 0, index: 1.5 },
  ]) {
    it(`denies an output it cannot key (scope ${output.scope}, index ${output.index})`, () => {
      expect(checkSelect(withOutput(facts(), output), testPolicy, false)).toEqual({ type: 'deny', reason: TOO_COMPLEX });
    });
  }
});
