// Replaces JWT-shaped substrings with a reference to their SHA-256, so that a token a
// client pasted into SQL text, a bound parameter or an error message is never stored or
// logged, while an auditor can still match it against a session's token hash
// (Identity.tokenHash is the same SHA-256 hex). Opaque tokens have no shape to find:
// whoever holds one (the session) must keep it out of what it hands to the store.
import { createHash } from 'node:crypto';

// A JWS/JWE compact serialisation starts with a base64url JSON header: `{"` is `eyJ`.
// Sticky: tried at each "eyJ" (scrubTokens).
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/y;

function isBase64Url(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d;
}

/**
 * `text` with every match of JWT_PATTERN replaced, leftmost first, as a global replace
 * would. A global regex retries at every "eyJ" of a run with no token in it and reads
 * the run to its end each time: 60 KB of "eyJeyJ..." (a statement any client may send,
 * recorded whether allowed or not) took 3 s of the event loop. A start that fails fails
 * for every later start in the same run of base64url characters (the first segment must
 * end where the run does, followed by the same text), so the search goes on past the run.
 */
export function scrubTokens(text: string): string {
  // The cheap test first: almost no SQL text contains the marker at all.
  let i = text.indexOf('eyJ');
  if (i < 0) return text;
  let out = '';
  let from = 0;
  while (i >= 0) {
    JWT_PATTERN.lastIndex = i;
    const m = JWT_PATTERN.exec(text);
    if (m !== null) {
      out += `${text.slice(from, i)}[jwt sha256:${sha256Hex(m[0])}]`;
      from = i + m[0].length;
      i = text.indexOf('eyJ', from);
      continue;
    }
    let runEnd = i + 3;
    while (runEnd < text.length && isBase64Url(text.charCodeAt(runEnd))) runEnd++;
    i = text.indexOf('eyJ', runEnd);
  }
  return from === 0 ? text : out + text.slice(from);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
