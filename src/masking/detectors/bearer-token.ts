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
// One pass finds every "bearer" and "authorization" (the words cannot overlap); the
// patterns are then tried right there, sticky, instead of each scanning the whole text.
// The header pattern is tried at "authorization" itself: a "proxy-" before it would
// start the match earlier but end it in the same place, and the credential is what
// ends a match.
const WORDS = /bearer|authorization/gi;
const BEARER = new RegExp(`\\bbearer\\s+(${TOKEN})`, 'iy');
const HEADER = new RegExp(`\\bauthorization["']?\\s*[:=]\\s*["']?(?:(${SCHEMES})\\s+)?(${TOKEN})`, 'iy');
const VALUE = new RegExp(`^\\s*(?:(${SCHEMES})\\s+)?(${TOKEN})`, 'i');
const AUTH_KEY = /^(?:proxy-)?authorization$/i;

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
    WORDS.lastIndex = 0;
    for (let w = WORDS.exec(s); w !== null; w = WORDS.exec(s)) {
      const at = w.index;
      const bearer = w[0].length === 6;
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
