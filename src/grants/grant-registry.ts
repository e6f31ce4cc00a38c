// Single-use just-in-time grants (SPEC section 3): one per trace-reading execution,
// issued before the statement is forwarded and revoked the moment it completes. A grant
// that outlives its TTL fires `onExpire`, which cancels the still-running statement
// upstream (57014). The registry is the live view the admin API lists; the audit store
// holds the history.
import { randomUUID } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562): the issue time in milliseconds in the first 48 bits, then 74
 * random bits. The audit store indexes revocations by grant id, and random ids put every
 * revocation on a different index page, one more 4 KB page written per statement; ids
 * that sort by time land on the same last page. Built from randomUUID because node:crypto
 * has no v7 before Node 24, and the change is three fields.
 */
export function grantId(issuedAt: number): string {
  const time = Math.max(0, Math.floor(issuedAt)).toString(16).padStart(12, '0').slice(-12);
  // randomUUID() is xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx: keep from the 3 digits after the
  // version on, whose variant bits (N) are already RFC 9562's.
  return `${time.slice(0, 8)}-${time.slice(8)}-7${randomUUID().slice(15)}`;
}

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
  readonly onExpire: (grant: Grant) => void;
  /** When the TTL runs out, on the monotonic clock (performance.now()). */
  readonly due: number;
}

/**
 * Held grants of one TTL in the order they were issued, which is the order they fall
 * due. Revoked ones leave lazily (the registry's map is the truth): from the head as
 * the sweep or a new grant meets them, and by compaction when they pile up behind a
 * long-running statement's grant.
 */
interface ExpiryQueue {
  items: Held[];
  head: number;
}

export class GrantRegistry {
  private readonly held = new Map<string, Held>();
  // One timer for all grants rather than one each: a grant per statement made timer
  // setup and teardown a measurable part of the statement path.
  private readonly queues = new Map<number, ExpiryQueue>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;

  constructor(
    private readonly now: () => number,
    private readonly events: GrantEvents = {},
  ) {}

  issue(request: GrantRequest, onExpire: (grant: Grant) => void): Grant {
    const issuedAt = this.now();
    const grant: Grant = {
      id: grantId(issuedAt),
      subject: request.subject,
      sessionId: request.sessionId,
      traceId: request.traceId,
      rule: request.rule,
      fingerprint: request.fingerprint,
      issuedAt,
      expiresAt: issuedAt + request.ttlMs,
    };
    const held: Held = { grant, onExpire, due: performance.now() + request.ttlMs };
    this.held.set(grant.id, held);
    this.enqueue(request.ttlMs, held);
    this.events.issued?.(grant);
    return grant;
  }

  /** Idempotent: a grant is revoked once, with the first reason given. */
  revoke(id: string, reason: GrantRevokeReason): boolean {
    const held = this.held.get(id);
    if (!held) return false;
    this.held.delete(id);
    this.events.revoked?.(held.grant, reason, this.now());
    return true;
  }

  /** Drops a grant whose issue could not be recorded: no revocation event, it never existed. */
  discard(id: string): void {
    const held = this.held.get(id);
    if (!held) return;
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

  private enqueue(ttlMs: number, held: Held): void {
    let queue = this.queues.get(ttlMs);
    if (!queue) {
      queue = { items: [], head: 0 };
      this.queues.set(ttlMs, queue);
    }
    this.dropRevoked(queue);
    const live = queue.items.length - queue.head;
    if (live > 64 && live > 2 * this.held.size) {
      queue.items = queue.items.slice(queue.head).filter((h) => this.held.get(h.grant.id) === h);
      queue.head = 0;
    }
    queue.items.push(held);
    if (held.due < this.timerDue) this.arm(held.due);
  }

  /** Revoked grants at the head of the queue leave it. */
  private dropRevoked(queue: ExpiryQueue): void {
    const items = queue.items;
    while (queue.head < items.length) {
      const first = items[queue.head] as Held;
      if (this.held.get(first.grant.id) === first) break;
      queue.head++;
    }
    if (queue.head === items.length) {
      queue.items = [];
      queue.head = 0;
    } else if (queue.head > 1024 && queue.head * 2 > items.length) {
      queue.items = items.slice(queue.head);
      queue.head = 0;
    }
  }

  private arm(due: number): void {
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, Math.ceil(due - performance.now())));
    this.timer.unref();
  }

  /** Expires every grant whose TTL has run out, then waits for the next one due. */
  private sweep(): void {
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const expired: Held[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [ttl, queue] of this.queues) {
      for (;;) {
        this.dropRevoked(queue);
        const first = queue.items[queue.head];
        if (first === undefined) break;
        if (first.due > now) {
          next = Math.min(next, first.due);
          break;
        }
        queue.head++;
        expired.push(first);
      }
      if (queue.items.length === queue.head) this.queues.delete(ttl);
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const held of expired) {
      if (!this.revoke(held.grant.id, 'expired')) continue;
      held.onExpire(held.grant);
    }
  }
}
