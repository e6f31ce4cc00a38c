// The text form of a one-time trace credential, `tgc_<20 hex>_<43 base64url>`, and the
// only ways its secret is ever handled: generated, hashed, compared. The part before the
// second underscore is the credential's public id (it names the credential in URLs, logs,
// the audit trail, and is the Postgres user name); the rest is the secret.
//
// Only SHA-256 of the secret is kept. A slow password hash protects low-entropy
// passwords against offline guessing; this secret is 256 random bits, so a fast hash is
// as safe and keeps the login path quick. Digests are compared with timingSafeEqual, so
// the time a refusal takes says nothing about how much of a guess was right.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const CREDENTIAL_PREFIX = 'tgc_';

const ID_BYTES = 10;
const SECRET_BYTES = 32;
const CREDENTIAL_FORM = /^(tgc_[0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;

export interface ParsedCredential {
  readonly id: string;
  readonly secret: string;
}

/** A fresh credential id: the prefix and 80 random bits, hex (unique, not secret). */
export function newCredentialId(): string {
  return `${CREDENTIAL_PREFIX}${randomBytes(ID_BYTES).toString('hex')}`;
}

/** A fresh secret: 256 random bits, base64url. */
export function newSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

export function formatCredential(id: string, secret: string): string {
  return `${id}_${secret}`;
}

/** Whether a password is meant as a credential (so it never goes to the OIDC verifier). */
export function hasCredentialPrefix(password: string): boolean {
  return password.startsWith(CREDENTIAL_PREFIX);
}

/** The id and secret of a well-formed credential; null for anything else. */
export function parseCredential(text: string): ParsedCredential | null {
  const m = CREDENTIAL_FORM.exec(text);
  if (!m) return null;
  return { id: m[1] as string, secret: m[2] as string };
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * Whether `secret` hashes to `storedHash`, in time independent of where they differ.
 * Both sides are SHA-256 digests, so the lengths are equal whatever was presented.
 */
export function secretMatches(storedHash: Buffer, secret: string): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}
