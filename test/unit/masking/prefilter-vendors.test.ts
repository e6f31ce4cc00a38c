// The prefilter lets a vendor detector run only when its prefix ends at a '-' or '_'
// ("sk_live_", "rk_test_", "whsec_", "github_pat_", "gh?_", "sk-", "sk-ant-", "xox?-",
// "xapp-", "gl...-"), and an underscore is looked at only after one of those prefixes'
// last letters. Over text dense with the prefixes, look-alikes and JSON-key underscores,
// a field masked through a DataRow (prefiltered) equals the text masked without it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker, type ColumnResolver } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { dataRow, field, rowTexts } from './helpers.js';

const masker = createMasker({ detectors: 'all' });
const noColumns: ColumnResolver = () => undefined;
const plan = masker.planResult([field('t', Oid.text)], noColumns, { exempt: false });

const prefix = fc.constantFrom(
  'sk_live_', 'rk_live_', 'sk_test_', 'rk_test_', 'whsec_', 'github_pat_', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_',
  'sk-', 'sk-ant-', 'sk-proj-', 'xoxb-', 'xapp-1-', 'glpat-', 'gldt-', 'glagent-',
  'xk_live_', 'ghx_', 'githubx_', 'whsex_', 'prompt_tokens', 'request_id', 'tool_calls', 'private_key', 'user_email', 'a_b', 'sk__',
);
// Random bodies are mostly short: real key bodies too, so that each prefix makes hits.
const body = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{0,44}$/),
  fc.constantFrom('A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8', '11ABCDEFG0123456789abcdefghij_XYZ', '4eC39HqLyjWDarjtT1zdp7dc', 'xYz12AbC34dEf56GhI78', '1234567890-AbCdEfGhIjKl'),
);
const glue = fc.constantFrom('', ' ', '"', '\\n', ':', '=', '-', '_', 'x', 'é', '/');

describe('prefilter, vendor prefixes', () => {
  it('never changes what masking does', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(glue, prefix, body), { maxLength: 6 }), (parts) => {
        const text = parts.map(([g, p, b]) => g + p + b).join('');
        expect(rowTexts(plan?.maskDataRow(dataRow([text])) ?? dataRow([text]))[0]).toBe(masker.maskText(text));
      }),
      { numRuns: 3000 },
    );
  });
});
