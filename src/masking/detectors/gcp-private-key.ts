// Google Cloud service-account keys: the "private_key" PEM and the "private_key_id" of a
// service-account JSON file, whether the file is a JSON value (the key is the hint) or
// pasted into text (the field name precedes the value). A PEM elsewhere is the generic
// private-key detector's; this one names the hit for what it is.
import type { Detector, Match, ScanContext } from '../types.js';
import { isHex, nextAnchoredMatch } from './chars.js';

const KEY_BEFORE = /private_key["']?\s*[:=]\s*["']?\s*$/;
// Sticky: tried where "private_" starts (chars.ts nextAnchoredMatch).
const KEY_ID = /private_key_id["']?\s*[:=]\s*["']?([0-9a-f]{40})(?![0-9A-Za-z])/y;
const PRIVATE = ['private_'];

function isHex40(s: string): boolean {
  if (s.length !== 40) return false;
  for (let i = 0; i < 40; i++) if (!isHex(s.charCodeAt(i))) return false;
  return true;
}

export const gcpPrivateKeyDetector: Detector = {
  kind: 'gcp-private-key',
  scan(s: string, out: Match[], ctx: ScanContext): void {
    const hint = ctx.hint;
    if (hint === 'private_key_id' && isHex40(s)) out.push({ start: 0, end: 40, kind: 'gcp-private-key' });
    // A service-account file always carries its PEM; without one there is nothing here.
    const blocks = ctx.privateKeyBlocks();
    if (blocks.length === 0) return;
    for (const b of blocks) {
      const before = s.slice(Math.max(0, b.start - 40), b.start);
      if ((hint === 'private_key' && before.trim() === '') || KEY_BEFORE.test(before)) {
        out.push({ start: b.start, end: b.end, kind: 'gcp-private-key' });
      }
    }
    for (let m = nextAnchoredMatch(KEY_ID, s, '_', PRIVATE, 0); m !== null; m = nextAnchoredMatch(KEY_ID, s, '_', PRIVATE, m.index + m[0].length)) {
      const start = m.index + m[0].length - 40;
      out.push({ start, end: start + 40, kind: 'gcp-private-key' });
    }
  },
};
