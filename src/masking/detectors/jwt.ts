// JSON Web Tokens (JWS compact form, and five-part JWE): base64url segments separated
// by dots, the header starting "eyJ" (base64 of '{"'). The signature segment may be
// empty (alg none). The whole token is one hit: its payload alone names the subject.
//
// Candidates are found with indexOf and their boundary checked before the regex runs,
// sticky, at that one position: run globally, the regex would rescan a long token from
// every "eyJ" inside it, quadratic on text like "eyJeyJeyJ...".
import type { Detector, Match } from '../types.js';
import { at, indexEndingIn } from './chars.js';

const EYJ = ['eyJ'];
const JWT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?/y;

function isBase64UrlChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f;
}

export const jwtDetector: Detector = {
  kind: 'jwt',
  scan(s: string, out: Match[]): void {
    for (let i = indexEndingIn(s, 'J', EYJ); i >= 0; i = indexEndingIn(s, 'J', EYJ, i + 1)) {
      if (isBase64UrlChar(at(s, i - 1))) continue;
      JWT.lastIndex = i;
      const m = JWT.exec(s);
      if (m === null) continue;
      out.push({ start: i, end: i + m[0].length, kind: 'jwt' });
      i += m[0].length - 1;
    }
  },
};
