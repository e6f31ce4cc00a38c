// Replaces JWT-shaped substrings with a reference to their SHA-256, so that a token a
// client pasted into SQL text, a bound parameter or an error message is never stored or
// logged, while an auditor can still match it against a session's token hash
// (Identity.tokenHash is the same SHA-256 hex). Opaque tokens have no shape to find:
// whoever holds one (the session) must keep it out of what it hands to the store.
import { createHash } from 'node:crypto';

// A JWS/JWE compact serialisation starts with a base64url JSON header: `{"` is `eyJ`.
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g;

export function scrubTokens(text: string): string {
  // The cheap test first: almost no SQL text contains the marker at all.
  if (!text.includes('eyJ')) return text;
  return text.replace(JWT_PATTERN, (token) => `[jwt sha256:${sha256Hex(token)}]`);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
