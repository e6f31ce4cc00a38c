// scrubTokens finds what a global regex replace finds, leftmost first, without retrying
// at every "eyJ" of a run that holds no token (which made it quadratic).
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scrubTokens } from '../../../src/audit/token-scrub.js';

const GLOBAL = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g;
const reference = (text: string): string => text.replace(GLOBAL, (t) => `[jwt sha256:${createHash('sha256').update(t, 'utf8').digest('hex')}]`);

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC03In0.c2lnbmF0dXJl';
const piece = fc.constantFrom('eyJ', 'eyJa', 'eyJabcd', 'abcd', 'a', '-', '_', '.', '..', ' ', "'", 'é', JWT, `${JWT}.x.y`, 'eyJeyJ', 'eJ', 'y');

describe('scrubTokens', () => {
  it('replaces what a global replace of the token pattern replaces', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
        const text = pieces.join('');
        expect(scrubTokens(text)).toBe(reference(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('finds a token after a long run of markers that start none', () => {
    const text = `${'eyJ'.repeat(5000)} ${JWT} ${'eyJ'.repeat(5000)}.eyJabcd`;
    expect(scrubTokens(text)).toBe(reference(text));
    expect(scrubTokens(text)).not.toContain('eyJhbGci');
  });
});
