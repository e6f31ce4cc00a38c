// JSON Web Tokens (JWS compact form, and five-part JWE): base64url segments separated
// by dots, the header starting "eyJ" (base64 of '{"'). The signature segment may be
// empty (alg none). The whole token is one hit: its payload alone names the subject.
import type { Detector, Match } from '../types.js';
import { at, eachMatch, indexEndingIn } from './chars.js';

const JWT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?/g;

function isBase64UrlChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f;
}

export const jwtDetector: Detector = {
  kind: 'jwt',
  scan(s: string, out: Match[]): void {
    const first = indexEndingIn(s, 'J', ['eyJ']);
    if (first < 0) return;
    eachMatch(
      JWT,
      s,
      (m) => {
        if (isBase64UrlChar(at(s, m.index - 1))) return;
        out.push({ start: m.index, end: m.index + m[0].length, kind: 'jwt' });
      },
      first,
    );
  },
};
