// In-memory storage for the development OIDC issuer's artefacts (grants, sessions, opaque
// tokens). Supplying our own adapter keeps oidc-provider from printing its quick-start
// warning on every start. It must not be used by anything but the dev issuer: it loses
// everything on restart and is not shared between processes.

import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
  readonly payload: AdapterPayload;
  readonly expiresAt: number;
}

export function createIssuerMemoryAdapter(): new (model: string) => Adapter {
  const store = new Map<string, Entry>();

  const live = (key: string): AdapterPayload | undefined => {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  return class IssuerMemoryAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    #key(id: string): string {
      return `${this.#model}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const expiresAt = Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
      store.set(this.#key(id), { payload, expiresAt });
      if (payload.grantId) store.set(`grant:${payload.grantId}:${this.#key(id)}`, { payload: { key: this.#key(id) }, expiresAt });
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: { id }, expiresAt });
      if (payload.uid) store.set(`uid:${this.#model}:${payload.uid}`, { payload: { id }, expiresAt });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return live(this.#key(id));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const ref = live(`userCode:${userCode}`);
      return typeof ref?.['id'] === 'string' ? this.find(ref['id']) : undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const ref = live(`uid:${this.#model}:${uid}`);
      return typeof ref?.['id'] === 'string' ? this.find(ref['id']) : undefined;
    }

    async consume(id: string): Promise<void> {
      const payload = live(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      store.delete(this.#key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const prefix = `grant:${grantId}:`;
      for (const [key, entry] of store) {
        if (!key.startsWith(prefix)) continue;
        const target = entry.payload['key'];
        if (typeof target === 'string') store.delete(target);
        store.delete(key);
      }
    }
  };
}
