// Email addresses. Found by expanding around each '@' by hand rather than with a regex:
// an indexOf probe makes text without '@' free, and the expansion decides the exact
// span, so the whole local part is covered (a partly masked address still identifies).
// Internationalised addresses (non-ASCII local part or domain) count; "@handle",
// "@scope/pkg" and "user@localhost" (no dot in the domain) do not.
import type { Detector, Match } from '../types.js';
import { isAlnum } from './chars.js';

// RFC 5322 atext minus the characters that delimit text around an address in practice
// ('/', '{', '}', '|', '`'), plus '.' and anything non-ASCII (RFC 6531).
function isLocalChar(c: number): boolean {
  if (isAlnum(c) || c >= 0x80) return true;
  switch (c) {
    case 0x2e: // .
    case 0x5f: // _
    case 0x25: // %
    case 0x2b: // +
    case 0x2d: // -
    case 0x27: // '
    case 0x21: // !
    case 0x23: // #
    case 0x24: // $
    case 0x26: // &
    case 0x2a: // *
    case 0x3d: // =
    case 0x3f: // ?
    case 0x5e: // ^
    case 0x7e: // ~
      return true;
    default:
      return false;
  }
}

function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 0x2d || c === 0x2e || c >= 0x80;
}

function isLetterLike(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c >= 0x80;
}

/** End of a valid domain starting at `from`, or -1. */
function domainEnd(s: string, from: number): number {
  let end = from;
  while (end < s.length && isDomainChar(s.charCodeAt(end))) {
    // "a..b" ends the domain at the first dot pair.
    if (s.charCodeAt(end) === 0x2e && s.charCodeAt(end + 1) === 0x2e) break;
    end++;
  }
  // A trailing '.' or '-' is sentence punctuation, not part of the name.
  while (end > from && (s.charCodeAt(end - 1) === 0x2e || s.charCodeAt(end - 1) === 0x2d)) end--;
  // Searched by hand within the domain only: lastIndexOf could run back to the start of
  // the text for every '@', quadratic on a crafted value.
  let lastDot = end - 1;
  while (lastDot > from && s.charCodeAt(lastDot) !== 0x2e) lastDot--;
  if (lastDot <= from || end - lastDot - 1 < 2) return -1;
  // Punycode TLDs (xn--...) carry digits and dashes; plain TLDs are letters.
  if (s.startsWith('xn--', lastDot + 1)) return end;
  for (let i = lastDot + 1; i < end; i++) {
    if (!isLetterLike(s.charCodeAt(i))) return -1;
  }
  return end;
}

/** End of a bracketed IP literal like [192.0.2.1] or [IPv6:2001:db8::1], or -1. */
function literalEnd(s: string, from: number): number {
  if (s.charCodeAt(from) !== 0x5b) return -1;
  const close = s.indexOf(']', from + 1);
  if (close < 0 || close - from > 60) return -1;
  return /^\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]$/.test(s.slice(from, close + 1)) ? close + 1 : -1;
}

export const emailDetector: Detector = {
  kind: 'email',
  scan(s: string, out: Match[]): void {
    let at = s.indexOf('@');
    while (at >= 0) {
      let start = at;
      while (start > 0 && isLocalChar(s.charCodeAt(start - 1))) start--;
      // A leading '.' or quote is punctuation around the address ('alice@example.com').
      while (start < at && (s.charCodeAt(start) === 0x2e || s.charCodeAt(start) === 0x27)) start++;
      let next = at + 1;
      if (start < at) {
        const end = s.charCodeAt(at + 1) === 0x5b ? literalEnd(s, at + 1) : domainEnd(s, at + 1);
        if (end > 0) {
          out.push({ start, end, kind: 'email' });
          next = end;
        }
      }
      at = s.indexOf('@', next);
    }
  },
};
