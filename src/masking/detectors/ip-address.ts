// IPv4 and IPv6 addresses.
//
// IPv4: four decimal octets 0-255 without leading zeros, not glued to a word or to more
// dotted parts. So "1.2.3" and "1.2.3.4.5" (versions, OIDs such as 1.3.6.1.4.1) and
// "v1.2.3.4" stay; "256.1.1.1" and "01.02.03.04" are not addresses. A bare dotted quad
// such as "version 1.2.3.4" IS masked: it cannot be told from an address, and masking a
// version number costs less than leaking an address. A CIDR suffix or port stays.
//
// IPv6: RFC 4291 text forms (eight groups, or "::" compression, optionally ending in an
// embedded IPv4, optionally with a %zone), found around each ':' by hand. A candidate
// must contain a decimal digit, which keeps "std::", "Foo::Bar" and "dead::beef" out;
// times (12:34:56) and MAC addresses (six groups, no "::") are not valid forms.
import type { Detector, Match, ScanContext } from '../types.js';
import { at, isAlnum, isDigit, isHex, isWord } from './chars.js';
import { eachMatchInRun } from './number-runs.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`${OCTET}(?:\\.${OCTET}){3}`, 'g');
const IPV4_EXACT = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** Digits s[a, b) are one OCTET as IPV4 reads it: 0-255, no leading zero. */
function isOctet(s: string, a: number, b: number): boolean {
  const n = b - a;
  if (n < 1 || n > 3) return false;
  for (let i = a; i < b; i++) if (!isDigit(s.charCodeAt(i))) return false;
  if (n === 1) return true;
  if (s.charCodeAt(a) === 0x30) return false;
  return n === 2 || Number(s.slice(a, b)) <= 255;
}

/**
 * The run s[a, b) is four octets joined by dots, the run of most addresses: then IPV4
 * over it matches it whole, and only there (every octet's longest reading ends at a
 * dot or at the end, and that reading comes first).
 */
function isDottedQuad(s: string, a: number, b: number): boolean {
  let from = a;
  for (let k = 0; k < 3; k++) {
    const dot = s.indexOf('.', from);
    if (dot < 0 || dot >= b || !isOctet(s, from, dot)) return false;
    from = dot + 1;
  }
  return isOctet(s, from, b);
}

function pushIpv4(s: string, start: number, end: number, out: Match[]): void {
  const before = at(s, start - 1);
  if (isWord(before) || before === 0x2e) return;
  const after = at(s, end);
  if (isAlnum(after) || after === 0x5f || (after === 0x2e && isDigit(at(s, end + 1)))) return;
  out.push({ start, end, kind: 'ipv4' });
}

export const ipv4Detector: Detector = {
  kind: 'ipv4',
  scan(s: string, out: Match[], ctx: ScanContext): void {
    for (const run of ctx.numberRuns()) {
      if (run.dots < 3) continue;
      // No regex for a run that is one address.
      if (run.dots === 3 && isDottedQuad(s, run.start, run.end)) pushIpv4(s, run.start, run.end, out);
      else eachMatchInRun(IPV4, s, run, (start, text) => pushIpv4(s, start, start + text.length, out));
    }
  },
};

function validGroups(groups: string[]): boolean {
  for (const g of groups) {
    if (g.length < 1 || g.length > 4) return false;
    for (let i = 0; i < g.length; i++) if (!isHex(g.charCodeAt(i))) return false;
  }
  return true;
}

/** Strict RFC 4291 section 2.2 text form, without zone. */
export function isIPv6(text: string): boolean {
  let body = text;
  let extra = 0;
  const lastColon = body.lastIndexOf(':');
  if (body.indexOf('.') >= 0) {
    if (!IPV4_EXACT.test(body.slice(lastColon + 1))) return false;
    // The embedded IPv4 stands for two groups; keep its separating colon for "::" forms.
    body = body.slice(0, lastColon + 1) + '0';
    extra = 1;
  }
  const halves = body.split('::');
  if (halves.length > 2) return false;
  if (halves.length === 1) {
    const groups = body.split(':');
    return groups.length + extra === 8 && validGroups(groups);
  }
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const tail = halves[1] === '' ? [] : (halves[1] as string).split(':');
  return head.length + tail.length + extra <= 7 && validGroups(head) && validGroups(tail);
}

function isAddrChar(c: number): boolean {
  return isHex(c) || c === 0x3a || c === 0x2e;
}

function isZoneChar(c: number): boolean {
  return isAlnum(c) || c === 0x2e || c === 0x5f || c === 0x2d;
}

function hasDigit(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (isDigit(s.charCodeAt(i))) return true;
  return false;
}

export const ipv6Detector: Detector = {
  kind: 'ipv6',
  scan(s: string, out: Match[]): void {
    let colon = s.indexOf(':');
    while (colon >= 0) {
      // Most colons are JSON or prose punctuation ("key":1, "a: b"): an address needs
      // two colons in one run of hex digits, colons and dots.
      let start = colon;
      while (start > 0 && isAddrChar(s.charCodeAt(start - 1))) start--;
      let end = colon + 1;
      let colons = 1;
      for (; end < s.length; end++) {
        const c = s.charCodeAt(end);
        if (c === 0x3a) colons++;
        else if (!isAddrChar(c)) break;
      }
      const next = end;
      // This colon is the run's first (earlier runs were skipped whole), so `colons`
      // counts them all.
      if (colons >= 2) {
        // Sentence punctuation and a "host:" prefix are not part of the address.
        while (end > start && s.charCodeAt(end - 1) === 0x2e) end--;
        if (s.charCodeAt(start) === 0x3a && s.charCodeAt(start + 1) !== 0x3a) start++;
        if (end - start >= 2 && s.charCodeAt(end - 1) === 0x3a && s.charCodeAt(end - 2) !== 0x3a) end--;
        const text = s.slice(start, end);
        if (!isWord(at(s, start - 1)) && hasDigit(text) && isIPv6(text)) {
          // A zone id ("fe80::1%eth0") belongs to the address.
          if (at(s, end) === 0x25) {
            let z = end + 1;
            while (z < s.length && isZoneChar(s.charCodeAt(z))) z++;
            if (z > end + 1) end = z;
          }
          if (!isWord(at(s, end))) out.push({ start, end, kind: 'ipv6' });
        }
      }
      colon = s.indexOf(':', next);
    }
  },
};
