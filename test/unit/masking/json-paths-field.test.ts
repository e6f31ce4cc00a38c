// A json/jsonb column with jsonPaths rules is masked from its bytes: prefiltered, and
// with the rules left out when none can match the document (a key a path names is not
// in it). That must never change a result: over generated documents, masking a field
// through a DataRow equals the full walk of the document with every rule and detector
// (ruleTextMask, which neither prefilters nor skips rules).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileColumnRules, ruleTextMask } from '../../../src/masking/column-rules.js';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { createMasker, type ColumnResolver } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { Scanner } from '../../../src/masking/scanner.js';
import type { ColumnRule } from '../../../src/masking/types.js';
import { ValueMasker } from '../../../src/masking/value-masker.js';
import { dataRow, field, rowFields } from './helpers.js';

const TABLE_OID = 16384;
const columnOf: ColumnResolver = (oid, attnum) => (oid === TABLE_OID && attnum === 1 ? { table: 'public.t', column: 'doc' } : undefined);

const RULES: ReadonlyArray<Omit<ColumnRule, 'column'>> = [
  { jsonPaths: ['$.user.email', '$.credentials'], strategy: 'redact' },
  { jsonPaths: ['$..password'], strategy: 'partial', keep: 2 },
  { jsonPaths: ['$.items[*].token', '$["odd/key"]'], strategy: 'hash' },
  { jsonPaths: ['$.user.email'], strategy: 'null' },
];

const KEY = ['user', 'email', 'credentials', 'password', 'items', 'token', 'odd/key', 'role', 'content', 'notes'];
const SCALAR = ['user', 'email', 'credentials', 'alice@example.com', 'call +44 20 7946 0958', 'card 4111111111111111', 'sk-ant-api03-Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4', 'plain words', 'line\nbreak', 'a "quoted" user', ''];

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...SCALAR),
    fc.constantFrom(4111111111111111, 42, null, true),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEY), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** JSON text in one of the spellings a server or a client may produce. */
function render(v: Json, style: { spacing: 0 | 1 | 2; escapeAt: number; escape: 'u' | '/' }): string {
  let n = 0;
  const str = (s: string): string => {
    const out = JSON.stringify(s);
    // Now and then a letter or a '/' written as an escape: "\u0065", "\/".
    if (style.escapeAt === 0 || n++ % style.escapeAt !== 0) return out;
    return style.escape === 'u' ? out.replace(/[a-z]/, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : out.replace('/', '\\/');
  };
  // Compact, as jsonb_out writes it, or as a json value may keep it ("key" :).
  const sep = style.spacing === 0 ? ',' : ', ';
  const colon = [':', ': ', ' \n: '][style.spacing] as string;
  const walk = (x: Json): string => {
    if (typeof x === 'string') return str(x);
    if (Array.isArray(x)) return `[${x.map(walk).join(sep)}]`;
    if (x !== null && typeof x === 'object') return `{${Object.entries(x).map(([k, y]) => `${str(k)}${colon}${walk(y)}`).join(sep)}}`;
    return JSON.stringify(x);
  };
  return walk(v);
}

describe('json paths on a json/jsonb field', () => {
  it.each(RULES.map((r, i) => [i, r] as const))('rule set %i: the field equals the full walk', (_i, rule) => {
    const cfg = { hashKey: 'test-hash-key-0123456789', detectors: 'all' as const, columns: [{ column: 'public.t.doc', ...rule }] };
    const masker = createMasker(cfg);
    const values = new ValueMasker(new Scanner(ALL_DETECTORS));
    const compiled = compileColumnRules(cfg.columns, cfg.hashKey, (s) => values.maskString(s)).get('public.t.doc');
    if (compiled === undefined) throw new Error('rule not compiled');
    const plans = {
      jsonbBinary: masker.planResult([field('doc', Oid.jsonb, { tableOid: TABLE_OID, columnNumber: 1, format: 1 })], columnOf, { exempt: false }),
      jsonbText: masker.planResult([field('doc', Oid.jsonb, { tableOid: TABLE_OID, columnNumber: 1 })], columnOf, { exempt: false }),
      json: masker.planResult([field('doc', Oid.json, { tableOid: TABLE_OID, columnNumber: 1 })], columnOf, { exempt: false }),
    };
    const reference = ruleTextMask(compiled, Oid.jsonb, values);
    fc.assert(
      fc.property(value, fc.constantFrom(0 as const, 1 as const, 2 as const), fc.constantFrom(0, 1, 2, 5), fc.constantFrom('u' as const, '/' as const), (doc, spacing, escapeAt, escape) => {
        const text = render(doc, { spacing, escapeAt, escape });
        const ref = reference(text);
        const expected = ref === undefined ? text : ref;
        for (const [name, plan] of Object.entries(plans)) {
          if (plan === null) throw new Error(`no plan for ${name}`);
          const raw = name === 'jsonbBinary' ? Buffer.concat([Buffer.of(1), Buffer.from(text, 'utf8')]) : Buffer.from(text, 'utf8');
          const frame = dataRow([raw]);
          const out = plan.maskDataRow(frame);
          const f = rowFields(out)[0] ?? null;
          const got = f === null ? null : f.toString('utf8', name === 'jsonbBinary' ? 1 : 0);
          expect(got, name).toBe(expected);
          if (expected === text) expect(out, name).toBe(frame);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('json paths on a json/jsonb field inside a larger row', () => {
  // Whether a rule can match is decided per field: a key in a neighbouring field must
  // not count for this document, and a key at this field's very end must.
  const cfg = { hashKey: 'test-hash-key-0123456789', detectors: 'all' as const, columns: [{ column: 'public.t.doc', jsonPaths: ['$.credentials'], strategy: 'redact' as const }] };
  const plan = createMasker(cfg).planResult(
    [field('doc', Oid.jsonb, { tableOid: TABLE_OID, columnNumber: 1 }), field('note', Oid.text, { tableOid: 0, columnNumber: 0 })],
    columnOf,
    { exempt: false },
  );

  it('masks a ruled key at the end of the field, whatever follows it', () => {
    if (plan === null) throw new Error('no plan');
    const out = plan.maskDataRow(dataRow([Buffer.from('{"a": 1, "credentials": "hunter2"}'), Buffer.from('"credentials": x')]));
    expect(rowFields(out)[0]?.toString('utf8')).toBe('{"a": 1, "credentials": "[redacted]"}');
  });

  it('relays a document without the key even when the next field holds it', () => {
    if (plan === null) throw new Error('no plan');
    const frame = dataRow([Buffer.from('{"a": "credentials"}'), Buffer.from('{"credentials": "x"}')]);
    expect(plan.maskDataRow(frame)).toBe(frame);
  });
});
