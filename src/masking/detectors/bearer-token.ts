// Credentials carried by HTTP authentication: "Bearer <token>" anywhere, the value of an
// Authorization / Proxy-Authorization header in text ("Authorization: Basic dXNl..."),
// and the value under such a key in JSON ({"authorization": "<token>"}). Only the
// credential is masked; the scheme word stays so a reader sees what was there.
// Prose such as "a bearer token" or "Bearer authentication" is left alone: after a bare
// "Bearer" (no header) a credential must look random (a digit, mixed case, or 32+
// characters).
import type { Detector, Match, ScanContext } from '../types.js';
import { isDigit, isLower, isUpper } from './chars.js';

const TOKEN = '[A-Za-z0-9\\-._~+/]+=*';
const SCHEMES = 'bearer|basic|token|digest|negotiate|apikey|api-key|dpop';
// Every "bearer" and "authorization" (any case; the words cannot overlap) is found by
// indexOf of its rarest letter, 'b' or 'z' in either case (wordStarts), and the
// patterns are tried right there, sticky, instead of each scanning the whole text: a
// case-insensitive regex for the two words looks at every character.
// The header pattern is tried at "authorization" itself: a "proxy-" before it would
// start the match earlier but end it in the same place, and the credential is what
// ends a match.
const BEARER = new RegExp(`\\bbearer\\s+(${TOKEN})`, 'iy');
const HEADER = new RegExp(`\\bauthorization["']?\\s*[:=]\\s*["']?(?:(${SCHEMES})\\s+)?(${TOKEN})`, 'iy');
const VALUE = new RegExp(`^\\s*(?:(${SCHEMES})\\s+)?(${TOKEN})`, 'i');
const AUTH_KEY = /^(?:proxy-)?authorization$/i;

/** s[at, at + word.length) is `word` (lowercase letters) in any case: ASCII case, all /i (without u) folds to these letters. */
function isWordAt(s: string, at: number, word: string): boolean {
  if (at < 0 || at + word.length > s.length) return false;
  for (let k = 0; k < word.length; k++) if ((s.charCodeAt(at + k) | 0x20) !== word.charCodeAt(k)) return false;
  return true;
}

/**
 * Where each "bearer" and "authorization" starts, in order, as start * 2 + 1 for bearer
 * and start * 2 for authorization.
 */
function wordStarts(s: string): number[] {
  const out: number[] = [];
  for (let i = s.indexOf('b'); i >= 0; i = s.indexOf('b', i + 1)) if (isWordAt(s, i, 'bearer')) out.push(i * 2 + 1);
  for (let i = s.indexOf('B'); i >= 0; i = s.indexOf('B', i + 1)) if (isWordAt(s, i, 'bearer')) out.push(i * 2 + 1);
  for (let i = s.indexOf('z'); i >= 0; i = s.indexOf('z', i + 1)) if (isWordAt(s, i - 7, 'authorization')) out.push((i - 7) * 2);
  for (let i = s.indexOf('Z'); i >= 0; i = s.indexOf('Z', i + 1)) if (isWordAt(s, i - 7, 'authorization')) out.push((i - 7) * 2);
  if (out.length > 1) out.sort((a, b) => a - b);
  return out;
}

function looksRandom(tok: string): boolean {
  if (tok.length >= 32) return true;
  let digit = false;
  let upper = false;
  let lower = false;
  for (let i = 0; i < tok.length; i++) {
    const c = tok.charCodeAt(i);
    digit ||= isDigit(c);
    upper ||= isUpper(c);
    lower ||= isLower(c);
  }
  return digit || (upper && lower);
}

/** `raw` (the credential) ends the match; `explicit` when a header or scheme names it. */
function push(out: Match[], m: RegExpExecArray, raw: string, explicit: boolean): void {
  let tok = raw;
  // A sentence-ending dot is punctuation; token68 ends in letters, digits or '='.
  while (tok.endsWith('.')) tok = tok.slice(0, -1);
  if (tok.length < (explicit ? 4 : 8) || (!explicit && !looksRandom(tok))) return;
  const start = m.index + m[0].length - raw.length;
  out.push({ start, end: start + tok.length, kind: 'bearer-token' });
}

export const bearerTokenDetector: Detector = {
  kind: 'bearer-token',
  scan(s: string, out: Match[], ctx: ScanContext): void {
    if (ctx.hint !== undefined && AUTH_KEY.test(ctx.hint)) {
      const m = VALUE.exec(s);
      if (m) push(out, m, m[2] ?? '', true);
    }
    // "Bearer x" in prose is a cue only when x looks random; "Authorization:" (a header,
    // a JSON key) names what follows as a credential. Each pattern resumes after its
    // last match, as a global regex would: a word inside a match starts none.
    let bearerFrom = 0;
    let headerFrom = 0;
    for (const w of wordStarts(s)) {
      const at = w >> 1;
      const bearer = (w & 1) === 1;
      if (at < (bearer ? bearerFrom : headerFrom)) continue;
      const re = bearer ? BEARER : HEADER;
      re.lastIndex = at;
      const m = re.exec(s);
      if (m === null) continue;
      if (bearer) {
        push(out, m, m[1] ?? '', false);
        bearerFrom = at + m[0].length;
      } else {
        push(out, m, m[2] ?? '', true);
        headerFrom = at + m[0].length;
      }
    }
  },
};
