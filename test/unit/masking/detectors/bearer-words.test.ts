// The bearer detector finds "bearer" and "authorization" first (indexOf of a letter) and tries its
// patterns there (sticky) instead of running each global pattern over the whole text.
// Over generated text full of the two words, near misses and overlaps, it must report
// exactly what the two global patterns report, kept here as the reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bearerTokenDetector } from '../../../../src/masking/detectors/bearer-token.js';
import { findNumberRuns } from '../../../../src/masking/detectors/number-runs.js';
import { findPrivateKeyBlocks } from '../../../../src/masking/detectors/private-key.js';
import type { Match, ScanContext } from '../../../../src/masking/types.js';

const TOKEN = '[A-Za-z0-9\\-._~+/]+=*';
const SCHEMES = 'bearer|basic|token|digest|negotiate|apikey|api-key|dpop';
const BEARER = new RegExp(`\\bbearer\\s+(${TOKEN})`, 'gi');
const HEADER = new RegExp(`\\b(?:proxy-)?authorization["']?\\s*[:=]\\s*["']?(?:(${SCHEMES})\\s+)?(${TOKEN})`, 'gi');

function looksRandom(tok: string): boolean {
  return tok.length >= 32 || /[0-9]/.test(tok) || (/[A-Z]/.test(tok) && /[a-z]/.test(tok));
}

/** The detector as two global regexes over the whole text, without the column hint. */
function reference(s: string): Match[] {
  const out: Match[] = [];
  const push = (m: RegExpExecArray, raw: string, explicit: boolean): void => {
    let tok = raw;
    while (tok.endsWith('.')) tok = tok.slice(0, -1);
    if (tok.length < (explicit ? 4 : 8) || (!explicit && !looksRandom(tok))) return;
    const start = m.index + m[0].length - raw.length;
    out.push({ start, end: start + tok.length, kind: 'bearer-token' });
  };
  for (const [re, group, explicit] of [[BEARER, 1, false], [HEADER, 2, true]] as const) {
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) push(m, m[group] ?? '', explicit);
  }
  return out;
}

function context(s: string): ScanContext {
  return { hint: undefined, numberRuns: () => findNumberRuns(s), privateKeyBlocks: () => findPrivateKeyBlocks(s) };
}

const byStart = (a: Match, b: Match): number => a.start - b.start || a.end - b.end;

const fragment = fc.oneof(
  fc.constantFrom('bearer', 'Bearer', 'BEARER', 'bEaReR', 'authorization', 'Authorization', 'AUTHORIZATION', 'proxy-', 'Proxy-Authorization', 'xauthorization', 'bearerbearer'),
  // A word as the credential of a match before it: no match of its own may start there.
  fc.constantFrom('bearer ', 'Bearer ', 'authorization: ', 'Authorization=', 'authorization: bearer ', 'Authorization="Bearer '),
  fc.constantFrom(' ', '  ', '\t', '\n', ':', '=', ': ', '"', "'", '.', '-', '_', 'basic ', 'token ', 'dpop ', 'api-key '),
  fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,40}={0,2}$/),
  fc.constantFrom('abc123def456ghi', 'AbCdEfGhIjKl', 'simple', 'é', '日本', 'ſ', 'K'),
  fc.string({ maxLength: 3 }),
);

describe('bearer detector, one pass over its words', () => {
  it('reports what the global patterns report', () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 20 }), (parts) => {
        const s = parts.join('');
        const hits: Match[] = [];
        bearerTokenDetector.scan(s, hits, context(s));
        expect(hits.sort(byStart)).toEqual(reference(s).sort(byStart));
      }),
      { numRuns: 8000 },
    );
  });
});
