// Admin revocations (SPEC section 3): by subject, by session id or by token jti, each in
// force until a given time. Two questions are asked of it: at login, "is this identity
// (or session) revoked?" (isRevoked, on every login, so a map lookup per key); and when
// a revocation is made, "which live sessions does it end?" (matches / revocationApplies).
// It does not end sessions itself: the admin API calls the listener's terminate with
// revokedError, and records the action. In memory for one instance; several instances
// share revocations through the Postgres store (store-pg/pg-revocations.ts, `adopt`).
import { randomUUID } from 'node:crypto';
import { fatal, type ClientError } from '../errors.js';

export type RevocationTarget =
  | { readonly kind: 'subject'; readonly subject: string }
  | { readonly kind: 'session'; readonly sessionId: string }
  | { readonly kind: 'jti'; readonly jti: string };

export interface Revocation {
  readonly id: string;
  readonly target: RevocationTarget;
  readonly reason: string;
  /** The admin's subject, or `cli`. */
  readonly by: string;
  readonly at: number;
  /** Epoch ms; from then on the revocation no longer refuses logins. */
  readonly until: number;
}

export interface RevokeInput {
  readonly target: RevocationTarget;
  readonly reason: string;
  readonly by: string;
  /** Epoch ms; default now + defaultTtlMs. */
  readonly until?: number;
}

export type RevocationEvent =
  | { readonly type: 'revoked'; readonly revocation: Revocation }
  | { readonly type: 'expired'; readonly revocation: Revocation };

/** Who a revocation is checked against: a live session's id and its caller. */
export interface RevocableSession {
  readonly id: string;
  readonly identity: { readonly subject: string; readonly jti: string | undefined };
}

// A subject's or session's revocation ends after a day unless the admin says otherwise:
// by then the tokens they held when revoked have expired (access tokens live minutes to
// hours; the dev issuer's cap is a day).
export const DEFAULT_REVOCATION_TTL_MS = 24 * 60 * 60 * 1000;

// A revoked token is refused until it expires (SPEC section 3), and the list cannot know
// when that is: a jti revocation lasts as long as an explicit `until` may (a year), not
// a day, so that a longer-lived token does not log in again once its revocation lapses.
export const MAX_REVOCATION_TTL_MS = 366 * 24 * 60 * 60 * 1000;

export interface RevocationListOptions {
  readonly now?: () => number;
  readonly newId?: () => string;
  readonly defaultTtlMs?: number;
}

type Kind = RevocationTarget['kind'];

export class RevocationList {
  // One map per kind, keyed by the target's value, holding the revocation that lasts
  // longest: a later, shorter revocation never shortens one already in force.
  private readonly byKind: Record<Kind, Map<string, Revocation>> = {
    subject: new Map(),
    session: new Map(),
    jti: new Map(),
  };
  private readonly listeners = new Set<(event: RevocationEvent) => void>();
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly defaultTtlMs: number;

  constructor(opts: RevocationListOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? randomUUID;
    this.defaultTtlMs = opts.defaultTtlMs ?? DEFAULT_REVOCATION_TTL_MS;
  }

  revoke(input: RevokeInput): Revocation {
    const at = this.now();
    const until = input.until ?? at + (input.target.kind === 'jti' ? MAX_REVOCATION_TTL_MS : this.defaultTtlMs);
    if (!Number.isFinite(until) || until <= at) throw new RangeError('a revocation must last until a time in the future');
    const key = targetKey(input.target);
    if (key.length === 0) throw new RangeError(`a ${input.target.kind} revocation needs a non-empty ${input.target.kind}`);
    const revocation: Revocation = { id: this.newId(), target: input.target, reason: input.reason, by: input.by, at, until };
    const map = this.byKind[input.target.kind];
    const existing = map.get(key);
    if (!existing || existing.until <= until) map.set(key, revocation);
    this.emit({ type: 'revoked', revocation });
    return revocation;
  }

  /**
   * A revocation made elsewhere (another instance, through the shared store; see
   * store-pg/pg-revocations.ts): in force here too, with its own id and times, and
   * announced to subscribers like a local one, so matching sessions end here as well.
   */
  adopt(revocation: Revocation): void {
    if (revocation.until <= this.now()) return;
    const map = this.byKind[revocation.target.kind];
    const key = targetKey(revocation.target);
    const existing = map.get(key);
    if (!existing || existing.until <= revocation.until) map.set(key, revocation);
    this.emit({ type: 'revoked', revocation });
  }

  /** At login (and, if the gate wishes, per statement): the revocation that refuses it. */
  isRevoked(identity: RevocableSession['identity'], sessionId?: string): Revocation | undefined {
    return (
      this.active('subject', identity.subject) ??
      (identity.jti === undefined ? undefined : this.active('jti', identity.jti)) ??
      (sessionId === undefined ? undefined : this.active('session', sessionId))
    );
  }

  matches(session: RevocableSession): Revocation | undefined {
    return this.isRevoked(session.identity, session.id);
  }

  /** Revocations in force, oldest first. */
  list(): readonly Revocation[] {
    this.prune();
    return [...this.byKind.subject.values(), ...this.byKind.session.values(), ...this.byKind.jti.values()].sort((a, b) => a.at - b.at);
  }

  /** Drops revocations past their `until`; returns them. Run it now and then (startExpiry). */
  prune(): readonly Revocation[] {
    const at = this.now();
    const expired: Revocation[] = [];
    for (const map of Object.values(this.byKind)) {
      for (const [key, revocation] of map) {
        if (revocation.until > at) continue;
        map.delete(key);
        expired.push(revocation);
        this.emit({ type: 'expired', revocation });
      }
    }
    return expired;
  }

  /** Prunes every `intervalMs` (default 1 min) until the returned function is called. */
  startExpiry(intervalMs = 60_000): () => void {
    const timer = setInterval(() => this.prune(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  subscribe(listener: (event: RevocationEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private active(kind: Kind, key: string): Revocation | undefined {
    const map = this.byKind[kind];
    if (map.size === 0) return undefined;
    const revocation = map.get(key);
    if (!revocation) return undefined;
    if (revocation.until > this.now()) return revocation;
    map.delete(key);
    this.emit({ type: 'expired', revocation });
    return undefined;
  }

  private emit(event: RevocationEvent): void {
    for (const listener of this.listeners) {
      // A failing listener (a log, a metric) must not undo or block a revocation.
      try {
        listener(event);
      } catch {
        continue;
      }
    }
  }
}

/** Whether this one revocation ends this session (the admin API's terminate filter). */
export function revocationApplies(revocation: Revocation, session: RevocableSession): boolean {
  return targetApplies(revocation.target, session);
}

export function targetApplies(target: RevocationTarget, session: RevocableSession): boolean {
  switch (target.kind) {
    case 'subject':
      return session.identity.subject === target.subject;
    case 'session':
      return session.id === target.sessionId;
    case 'jti':
      return session.identity.jti === target.jti;
    default:
      return assertNever(target);
  }
}

export function describeTarget(target: RevocationTarget): string {
  return `${target.kind} ${targetKey(target)}`;
}

/**
 * What a revoked live session receives. The admin's reason stays in the recording: the
 * revoked caller learns that, and the id to ask about, not the security team's notes.
 */
export function revokedError(revocation: Revocation): ClientError {
  return fatal('57P01', `terminating connection due to administrator command: revoked (${describeTarget(revocation.target)})`, {
    reference: revocation.id,
  });
}

/** What a login refused by a revocation receives (the token is fine; the access is not). */
export function revokedLoginError(revocation: Revocation): ClientError {
  return fatal('28000', `access revoked by an administrator (${describeTarget(revocation.target)}) until ${new Date(revocation.until).toISOString()}`, {
    reference: revocation.id,
  });
}

function targetKey(target: RevocationTarget): string {
  switch (target.kind) {
    case 'subject':
      return target.subject;
    case 'session':
      return target.sessionId;
    case 'jti':
      return target.jti;
    default:
      return assertNever(target);
  }
}

function assertNever(value: never): never {
  throw new TypeError(`unexpected revocation target ${JSON.stringify(value)}`);
}
