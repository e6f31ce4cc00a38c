// Text that is not read from a field's bytes (a partial rule's kept tail, error and
// notice fields) is prefiltered too, from its own bytes. That must never change a
// result: over generated text, maskStringPrefiltered equals maskString with every
// detector (no prefilter), for prose, JSON-looking text, escapes and non-ASCII alike.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { createMasker } from '../../../src/masking/masker.js';
import { SCAN_ALL } from '../../../src/masking/prefilter.js';
import { Scanner } from '../../../src/masking/scanner.js';
import { ValueMasker } from '../../../src/masking/value-masker.js';
import { dataRow, field, rowTexts } from './helpers.js';

const values = new ValueMasker(new Scanner(ALL_DETECTORS));

const fragment = fc.oneof(
  fc.constantFrom('the', 'agent', 'refund', 'é', '日本語', 'secret', 'aws', 'token', 'bearer', 'Authorization: ', 'private_key'),
  fc.constantFrom(
    'alice.smith@example.com',
    '4111 1111 1111 1111',
    '4111111111111111',
    'DE89 3704 0044 0532 0130 00',
    '+44 20 7946 0958',
    '(415) 555-2671',
    '020 7946 0958',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    'AKIAIOSFODNN7EXAMPLE',
    'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8',
    'sk-ant-api03-Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX',
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----',
    '192.168.10.20',
    '2001:db8::42',
  ),
  fc.constantFrom(' ', '\\n', '\\u0040', '\\/', '\\', '"', '{', '}', '[', ':', '::', '.', '-', '_', '+', '(', ')', '@', '/', '=', ',', '\n'),
  fc.stringMatching(/^[0-9 .-]{1,14}$/),
  fc.stringMatching(/^[A-Za-z0-9/+]{1,44}$/),
  fc.string({ maxLength: 4 }),
);

describe('maskStringPrefiltered', () => {
  it('equals maskString without a prefilter', () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 20 }), (parts) => {
        const text = parts.join('');
        expect(values.maskStringPrefiltered(text)).toBe(values.maskString(text, undefined, SCAN_ALL));
      }),
      { numRuns: 3000 },
    );
  });

  it('masks the tail a partial rule keeps, and error fields', () => {
    const masker = createMasker({ columns: [{ column: 'public.t.c', strategy: 'partial', keep: 30 }] });
    const plan = masker.planResult([field('c', Oid.text, { tableOid: 1, columnNumber: 1 })], () => ({ table: 'public.t', column: 'c' }), { exempt: false });
    const out = rowTexts(plan?.maskDataRow(dataRow(['customer record, contact bob@example.org'])) ?? Buffer.alloc(0));
    expect(out).toEqual(['****ecord, contact [redacted:email]']);
    expect(masker.maskErrorFields({ severity: 'ERROR', code: '22P02', message: 'note: alice.smith@example.com' }).message).toBe('note: [redacted:email]');
  });
});
