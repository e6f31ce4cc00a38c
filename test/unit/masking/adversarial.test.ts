// Trace content is partly written by whoever talked to the agent: crafted values must
// not make masking quadratic (a regex rescanning a long run from every start). Each
// case is about 100 KB; quadratic behaviour here takes many seconds, linear a few ms,
// so the bound is loose enough for a loaded machine.
import { describe, expect, it } from 'vitest';
import { createMasker } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { dataRow, field } from './helpers.js';

const N = 100_000;
const CASES: Record<string, string> = {
  'nested JWT starts': 'eyJ'.repeat(N / 3),
  'JWT-like segments': ('eyJ' + 'a'.repeat(10) + '.').repeat(N / 14),
  'unterminated PEM header': '-----BEGIN ' + 'AAAA '.repeat(N / 5),
  'many PEM headers': ('-----BEGIN PRIVATE KEY-----' + 'A'.repeat(50)).repeat(N / 77),
  'authorization and spaces': 'authorization:' + ' '.repeat(N),
  'repeated headers': 'authorization: '.repeat(N / 15),
  'one huge address': 'a'.repeat(N) + '@' + 'b'.repeat(N),
  'many @': 'a@b'.repeat(N / 3),
  'spaced digits': '1 '.repeat(N / 2),
  'dotted digits': '1.'.repeat(N / 2),
  'plus groups': '+1 '.repeat(N / 3),
  'hex and colons': 'a:'.repeat(N / 2) + '1',
  'nested key prefixes': 'sk-'.repeat(N / 3),
  'base64 runs near a hint': ('secret ' + 'A'.repeat(39) + ' ').repeat(N / 47),
  'IBAN starts': 'DE89 '.repeat(N / 5),
  'escapes': '\\n'.repeat(N / 2),
  'deep JSON': '['.repeat(N / 2) + '"a@b.io"' + ']'.repeat(N / 2),
};

describe('crafted values stay linear', () => {
  const masker = createMasker({ detectors: 'all' });
  const plan = masker.planResult([field('t', Oid.text)], () => undefined, { exempt: false });

  it.each(Object.entries(CASES))('%s', (_name, value) => {
    const t0 = performance.now();
    masker.maskText(value);
    plan?.maskDataRow(dataRow([value]));
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
