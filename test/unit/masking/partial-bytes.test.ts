// A partial rule on a string column takes the value's tail from its bytes when the last
// `keep` bytes are ASCII (column-rules.ts), and decodes the whole text otherwise. Over
// generated values (ASCII, multi-byte and invalid UTF-8, secrets straddling the tail,
// values around `keep` bytes long), the field through a DataRow equals the strategy
// applied to the decoded text, with the detectors over the kept tail.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { createMasker } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { SCAN_ALL } from '../../../src/masking/prefilter.js';
import { Scanner } from '../../../src/masking/scanner.js';
import { strategyFor } from '../../../src/masking/strategies.js';
import { ValueMasker } from '../../../src/masking/value-masker.js';
import { dataRow, field, rowFields } from './helpers.js';

const values = new ValueMasker(new Scanner(ALL_DETECTORS));
const KEEPS = [0, 1, 4, 30] as const;
const cases = KEEPS.map((keep) => {
  const masker = createMasker({ columns: [{ column: 'public.t.c', strategy: 'partial', keep }] });
  const plan = masker.planResult([field('c', Oid.text, { tableOid: 1, columnNumber: 1 })], () => ({ table: 'public.t', column: 'c' }), { exempt: false });
  if (plan === null) throw new Error('expected a plan');
  return { plan, apply: strategyFor({ strategy: 'partial', keep }, undefined, (s) => values.maskString(s, undefined, SCAN_ALL)) };
});

const piece = fc.oneof(
  fc.constantFrom('a', ' ', '.', 'é', '日', '👋', 'bob@example.org', 'alice.smith@example.com', '4111 1111 1111 1111', 'AKIAIOSFODNN7EXAMPLE', '\\n'),
  fc.string({ maxLength: 3 }).map((s) => Buffer.from(s, 'utf8')),
  fc.uint8Array({ minLength: 1, maxLength: 3 }).map((a) => Buffer.from(a)),
);
const value = fc.array(piece, { maxLength: 12 }).map((ps) => Buffer.concat(ps.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p))));

describe('partial rule on a string field', () => {
  it('equals the strategy on the decoded text', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: KEEPS.length - 1 }), (bytes, k) => {
        const { plan, apply } = cases[k] as (typeof cases)[number];
        const text = bytes.toString('utf8');
        const out = apply(text);
        const expected = out === null || out === text ? (out === null ? null : bytes) : Buffer.from(out, 'utf8');
        expect(rowFields(plan.maskDataRow(dataRow([bytes])))).toEqual([expected]);
      }),
      { numRuns: 4000 },
    );
  });
});
