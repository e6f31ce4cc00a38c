// Detectors whose regex starts at the first place a prefix occurs (found by an indexOf
// probe) instead of at the start of the text: the same hits as the regex over the
// whole text, the reference written out here as the detectors had it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { awsAccessKeyDetector } from '../../../src/masking/detectors/aws-keys.js';
import { gcpPrivateKeyDetector } from '../../../src/masking/detectors/gcp-private-key.js';
import { findPrivateKeyBlocks } from '../../../src/masking/detectors/private-key.js';
import { findNumberRuns } from '../../../src/masking/detectors/number-runs.js';
import type { Match, ScanContext } from '../../../src/masking/types.js';

const ACCESS_KEY = /(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/g;
const KEY_ID = /private_key_id["']?\s*[:=]\s*["']?([0-9a-f]{40})(?![0-9A-Za-z])/g;

function isWord(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_]/.test(c);
}

function accessKeys(s: string): Match[] {
  const out: Match[] = [];
  for (const m of s.matchAll(ACCESS_KEY)) {
    const end = m.index + m[0].length;
    if (!isWord(s[m.index - 1]) && !isWord(s[end])) out.push({ start: m.index, end, kind: 'aws-access-key' });
  }
  return out;
}

function keyIds(s: string): Match[] {
  return [...s.matchAll(KEY_ID)].map((m) => {
    const start = m.index + m[0].length - 40;
    return { start, end: start + 40, kind: 'gcp-private-key' as const };
  });
}

function context(s: string): ScanContext {
  return { hint: undefined, numberRuns: () => findNumberRuns(s), privateKeyBlocks: () => findPrivateKeyBlocks(s) };
}

const HEX40 = 'a3f1c2d4e5b6a7980123456789abcdef01234567';
const PEM = '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----';
const pieces = fc.oneof(
  fc.constantFrom('AKIAIOSFODNN7EXAMPLE', 'ASIAY34FZKBOKMUTVV7A', 'ABIA1234567890ABCDEF', 'ACCAZZZZZZZZZZZZZZZZ', 'AKIA', 'AKIAshort', 'xAKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE1', 'A', 'AA', 'AKI', 'ASIA', 'Account'),
  fc.constantFrom(`"private_key_id": "${HEX40}"`, `private_key_id=${HEX40}`, `private_key_id: '${HEX40}'`, 'private_', 'private_key', `"private_key": "${PEM}"`, PEM, `private_key_id ${HEX40}x`, 'private private__key_id', `private_key_id="${HEX40.toUpperCase()}"`),
  fc.constantFrom(' ', '_', '"', ':', '=', '\\n', 'é', '日本', ', '),
  fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/),
  fc.string({ maxLength: 4 }),
);

describe('detectors starting at their first prefix', () => {
  it('aws-access-key finds what its regex over the whole text finds', () => {
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 14 }), (parts) => {
        const s = parts.join('');
        const got: Match[] = [];
        awsAccessKeyDetector.scan(s, got, context(s));
        expect(got).toEqual(accessKeys(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('gcp-private-key finds every key id its regex over the whole text finds', () => {
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 14 }), fc.boolean(), (parts, withPem) => {
        const s = (withPem ? PEM + ' ' : '') + parts.join('');
        const got: Match[] = [];
        gcpPrivateKeyDetector.scan(s, got, context(s));
        const ids = got.filter((m) => s.slice(m.start, m.end).length === 40 && !s.slice(m.start, m.end).startsWith('-----'));
        expect(ids).toEqual(findPrivateKeyBlocks(s).length === 0 ? [] : keyIds(s));
      }),
      { numRuns: 2000 },
    );
  });
});
