// Builds a SCRAM-SHA-256 password verifier (RFC 5802/7677, PostgreSQL's stored format)
// on the client side, so a role's password is stored as SCRAM whatever the server's
// password_encryption says and the cleartext never appears in a statement or a log.
// It must not be used for anything but creating roles: it is not a SCRAM client.

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const ITERATIONS = 4096;

export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16)): string {
  // PostgreSQL SASLpreps the password; NFKC is its effect for the ASCII and common
  // Unicode passwords we generate, and a mismatch would only make login fail, not pass.
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
