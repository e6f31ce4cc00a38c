// Maps the BackendKeyData tracegate hands each client to the upstream backend that
// currently serves it. The client never learns the upstream's key, so a cancel key can
// only ever reach its own session; an unknown key does nothing, as in Postgres.
import { randomInt } from 'node:crypto';

export interface CancelTarget {
  cancel(): void;
}

export interface BackendKey {
  readonly processId: number;
  readonly secretKey: number;
}

export class CancelRegistry {
  private readonly targets = new Map<string, CancelTarget>();

  /** Issues a fresh key for a session; the caller must `release` it when the session ends. */
  register(target: CancelTarget): BackendKey {
    for (;;) {
      const key = { processId: randomInt(1, 2 ** 31 - 1), secretKey: randomInt(-(2 ** 31), 2 ** 31 - 1) };
      const id = keyId(key);
      if (this.targets.has(id)) continue;
      this.targets.set(id, target);
      return key;
    }
  }

  release(key: BackendKey): void {
    this.targets.delete(keyId(key));
  }

  /** Returns whether the key was known; unknown keys are ignored silently. */
  cancel(key: BackendKey): boolean {
    const target = this.targets.get(keyId(key));
    if (!target) return false;
    target.cancel();
    return true;
  }

  get size(): number {
    return this.targets.size;
  }
}

const keyId = (key: BackendKey): string => `${key.processId}:${key.secretKey}`;
