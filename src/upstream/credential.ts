// tracegate's own upstream password, as the configuration gives it: inline, or a file
// that a secret manager may rewrite at any time. Each value carries a version, so that
// an upstream connection opened with a password that has since been rotated can be
// told apart and closed instead of being handed to the next client (pool.ts).
// The password never leaves here except to the upstream login.
import { readFileSync, statSync } from 'node:fs';

export interface CredentialValue {
  readonly password: string;
  /** Changes whenever the password does. */
  readonly version: number;
}

export interface UpstreamCredential {
  current(): CredentialValue;
}

export function fixedCredential(password: string): UpstreamCredential {
  const value = { password, version: 1 };
  return { current: () => value };
}

/**
 * Reads `path` again whenever its identity or timestamps change (a rewrite, or the
 * atomic symlink swap a Kubernetes secret volume does), looking at most once every
 * `recheckMs` (a stat per client login is measurable). A file that cannot be read at
 * the moment (mid-rotation) leaves the last password in force: a wrong one only makes
 * new logins fail, while dropping it would make them all fail.
 */
export function fileCredential(path: string, initial: string, clock: () => number = Date.now, recheckMs = 1_000): UpstreamCredential {
  let value: CredentialValue = { password: initial, version: 1 };
  let stamp = stampOf(path);
  let checkedAt = clock();
  return {
    current: () => {
      const at = clock();
      if (at - checkedAt < recheckMs) return value;
      checkedAt = at;
      const now = stampOf(path);
      if (now === undefined || now === stamp) return value;
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return value;
      }
      stamp = now;
      const password = text.replace(/\r?\n$/, '');
      if (password !== '' && password !== value.password) value = { password, version: value.version + 1 };
      return value;
    },
  };
}

function stampOf(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return undefined;
  }
}
