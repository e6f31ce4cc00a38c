// Single-use just-in-time grants (SPEC section 3): one per trace-reading execution,
// issued before the statement is forwarded and revoked the moment it completes. A grant
// that outlives its TTL fires `onExpire`, which cancels the still-running statement
// upstream (57014). The registry is the live view the admin API lists; the audit store
// holds the history.
import { randomUUID } from 'node:crypto';

export type GrantRevokeReason = 'completed' | 'error' | 'expired' | 'cancelled' | 'session-ended' | 'admin';

export interface Grant {
  readonly id: string;
  readonly subject: string;
  readonly sessionId: string;
  readonly traceId: string;
  readonly rule: string;
  /** Hash of the statement text, so a grant names what it was for without the SQL. */
  readonly fingerprint: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export interface GrantRequest {
  readonly subject: string;
  readonly sessionId: string;
  readonly traceId: string;
  readonly rule: string;
  readonly fingerprint: string;
  readonly ttlMs: number;
}

/** For the recording and metrics; called synchronously, so keep them cheap. */
export interface GrantEvents {
  readonly issued?: (grant: Grant) => void;
  readonly revoked?: (grant: Grant, reason: GrantRevokeReason, at: number) => void;
  /** Discarded before its issue was recorded (so never revoked either). */
  readonly discarded?: (grant: Grant) => void;
}

interface Held {
  readonly grant: Grant;
  readonly timer: NodeJS.Timeout;
}

export class GrantRegistry {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly now: () => number,
    private readonly events: GrantEvents = {},
  ) {}

  issue(request: GrantRequest, onExpire: (grant: Grant) => void): Grant {
    const issuedAt = this.now();
    const grant: Grant = {
      id: randomUUID(),
      subject: request.subject,
      sessionId: request.sessionId,
      traceId: request.traceId,
      rule: request.rule,
      fingerprint: request.fingerprint,
      issuedAt,
      expiresAt: issuedAt + request.ttlMs,
    };
    const timer = setTimeout(() => {
      if (!this.held.has(grant.id)) return;
      this.revoke(grant.id, 'expired');
      onExpire(grant);
    }, request.ttlMs);
    timer.unref();
    this.held.set(grant.id, { grant, timer });
    this.events.issued?.(grant);
    return grant;
  }

  /** Idempotent: a grant is revoked once, with the first reason given. */
  revoke(id: string, reason: GrantRevokeReason): boolean {
    const held = this.held.get(id);
    if (!held) return false;
    clearTimeout(held.timer);
    this.held.delete(id);
    this.events.revoked?.(held.grant, reason, this.now());
    return true;
  }

  /** Drops a grant whose issue could not be recorded: no revocation event, it never existed. */
  discard(id: string): void {
    const held = this.held.get(id);
    if (!held) return;
    clearTimeout(held.timer);
    this.held.delete(id);
    this.events.discarded?.(held.grant);
  }

  /** Revokes every grant a session holds (it ended or was revoked). */
  revokeSession(sessionId: string, reason: GrantRevokeReason): number {
    let n = 0;
    for (const { grant } of [...this.held.values()]) {
      if (grant.sessionId === sessionId && this.revoke(grant.id, reason)) n++;
    }
    return n;
  }

  isActive(id: string): boolean {
    return this.held.has(id);
  }

  active(): Grant[] {
    return [...this.held.values()].map((h) => h.grant);
  }
}
