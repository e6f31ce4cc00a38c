// PEM private key blocks: "-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |PGP ...]PRIVATE KEY-----"
// through the matching END line. The body may use real line breaks or the two-character
// "\n" of a JSON or log dump, and legacy encryption headers ("Proc-Type: 4,ENCRYPTED").
// A block cut off before its END line (truncated logs) is masked up to where the key
// text stops: a partial key is still key material.
import type { Detector, Match, ScanContext, TextRange } from '../types.js';
import { isAlnum, nextAnchoredMatch } from './chars.js';

// BEGIN is tried, sticky, where its first word starts (chars.ts nextAnchoredMatch).
const BEGIN = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/y;
const BEGIN_WORD = ['-----BEGIN'];
const END = /-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/y;

function isBodyChar(c: number): boolean {
  if (isAlnum(c)) return true;
  switch (c) {
    case 0x2b: // +
    case 0x2f: // /
    case 0x3d: // =
    case 0x20: // space
    case 0x09: // tab
    case 0x0a: // LF
    case 0x0d: // CR
    case 0x5c: // backslash of an escaped "\n"
    case 0x3a: // : in "Proc-Type: 4,ENCRYPTED"
    case 0x2c: // ,
    case 0x2d: // - in headers and the END line
    case 0x2e: // .
      return true;
    default:
      return false;
  }
}

function isTrailingSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Every PEM private key block in `s`, as [start, end) ranges. */
export function findPrivateKeyBlocks(s: string): TextRange[] {
  const blocks: TextRange[] = [];
  // A BEGIN line inside a block is part of it, not a block of its own: the next BEGIN
  // is looked for after the block.
  for (let m = nextAnchoredMatch(BEGIN, s, 'N', BEGIN_WORD, 0); m !== null; m = nextAnchoredMatch(BEGIN, s, 'N', BEGIN_WORD, (blocks[blocks.length - 1] as TextRange).end)) {
    let i = m.index + m[0].length;
    let end = -1;
    while (i < s.length && isBodyChar(s.charCodeAt(i))) {
      if (s.charCodeAt(i) === 0x2d) {
        END.lastIndex = i;
        const e = END.exec(s);
        if (e) {
          end = i + e[0].length;
          break;
        }
      }
      i++;
    }
    if (end < 0) {
      end = i;
      while (end > m.index && isTrailingSpace(s.charCodeAt(end - 1))) end--;
    }
    blocks.push({ start: m.index, end });
  }
  return blocks;
}

export const privateKeyDetector: Detector = {
  kind: 'private-key',
  scan(_s: string, out: Match[], ctx: ScanContext): void {
    for (const b of ctx.privateKeyBlocks()) out.push({ start: b.start, end: b.end, kind: 'private-key' });
  },
};
