// Tells a chat channel about new approval requests: a Slack-compatible incoming webhook
// (`{ "text": ... }`, which Mattermost, Rocket.Chat and Teams' Slack shim accept too).
//
// It must never slow down or fail a decision: `notify` only appends to a bounded queue
// (full → the newest is dropped and reported) and one background worker posts, retrying
// network errors, timeouts, 429 and 5xx with exponential backoff. Other 4xx answers are
// configuration errors and are not retried. The webhook URL is itself a secret (whoever
// holds it can post to the channel), so it is never put in a log line or a result.
import { setTimeout as delay } from 'node:timers/promises';
import type { ApprovalEvent, ApprovalView } from './approval.js';

export interface WebhookOptions {
  readonly url: string;
  /** The admin page's public address, linked from the message. */
  readonly publicUrl?: string;
  /** Whether the SQL text goes into the message (it may name literals); default true. */
  readonly includeStatement?: boolean;
  /** Per attempt; default 5 s. */
  readonly timeoutMs?: number;
  /** Default 5. */
  readonly maxAttempts?: number;
  /** Default 500 ms, doubled per retry up to maxBackoffMs (default 30 s). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Notifications waiting at most; default 100. */
  readonly queueSize?: number;
}

export type WebhookResult =
  | { readonly kind: 'delivered'; readonly approvalId: string; readonly attempts: number }
  | { readonly kind: 'failed'; readonly approvalId: string; readonly attempts: number; readonly status: number | null; readonly error: string }
  | { readonly kind: 'dropped'; readonly approvalId: string; readonly reason: 'queue-full' | 'closed' };

export interface WebhookDeps {
  readonly fetch?: typeof fetch;
  /** Waits between attempts; rejects when the signal aborts (close). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Every notification's fate, for the log. */
  readonly onResult?: (result: WebhookResult) => void;
}

const STATEMENT_PREVIEW_CHARS = 500;

interface Job {
  readonly approvalId: string;
  readonly body: string;
}

export class WebhookNotifier {
  private readonly queue: Job[] = [];
  private readonly closing = new AbortController();
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly onResult: (result: WebhookResult) => void;
  private readonly settings: Required<Omit<WebhookOptions, 'publicUrl'>> & Pick<WebhookOptions, 'publicUrl'>;
  private worker: Promise<void> | undefined;

  constructor(opts: WebhookOptions, deps: WebhookDeps = {}) {
    const url = new URL(opts.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('admin.webhook.url must be an http(s) URL');
    this.settings = {
      url: opts.url,
      publicUrl: opts.publicUrl,
      includeStatement: opts.includeStatement ?? true,
      timeoutMs: opts.timeoutMs ?? 5_000,
      maxAttempts: Math.max(1, opts.maxAttempts ?? 5),
      initialBackoffMs: opts.initialBackoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      queueSize: Math.max(1, opts.queueSize ?? 100),
    };
    this.fetch = deps.fetch ?? fetch;
    this.sleep = deps.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.onResult = deps.onResult ?? (() => undefined);
  }

  /** Queues a message for this request; false when it was dropped. Never throws, never waits. */
  notify(approval: ApprovalView): boolean {
    if (this.closing.signal.aborted) {
      this.report({ kind: 'dropped', approvalId: approval.id, reason: 'closed' });
      return false;
    }
    if (this.queue.length >= this.settings.queueSize) {
      this.report({ kind: 'dropped', approvalId: approval.id, reason: 'queue-full' });
      return false;
    }
    const message = approvalMessage(approval, this.settings);
    this.queue.push({ approvalId: approval.id, body: JSON.stringify(message) });
    this.kick();
    return true;
  }

  /** Notifies on every new request of `service`; returns unsubscribe. */
  watch(service: { subscribe(listener: (event: ApprovalEvent) => void): () => void }): () => void {
    return service.subscribe((event) => {
      if (event.type === 'requested') this.notify(event.approval);
    });
  }

  /** Resolves once everything queued so far has been delivered or given up on. */
  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /** Stops: the attempt in flight is aborted and what is still queued is dropped. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.idle();
  }

  private kick(): void {
    if (this.worker) return;
    this.worker = this.drain().finally(() => {
      this.worker = undefined;
      // A job queued between the last shift and this callback would otherwise wait forever.
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      if (this.closing.signal.aborted) {
        this.report({ kind: 'dropped', approvalId: job.approvalId, reason: 'closed' });
        continue;
      }
      this.report(await this.deliver(job));
    }
  }

  private async deliver(job: Job): Promise<WebhookResult> {
    const { maxAttempts } = this.settings;
    let status: number | null = null;
    let error = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      let retryAfterMs = 0;
      try {
        const response = await this.fetch(this.settings.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: job.body,
          redirect: 'error',
          signal: AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.settings.timeoutMs)]),
        });
        status = response.status;
        // The body is not needed; reading it frees the connection for the next post.
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) return { kind: 'delivered', approvalId: job.approvalId, attempts: attempt };
        error = `HTTP ${response.status}`;
        if (response.status !== 429 && response.status < 500) {
          return { kind: 'failed', approvalId: job.approvalId, attempts: attempt, status, error };
        }
        retryAfterMs = retryAfter(response.headers.get('retry-after'));
      } catch (err) {
        status = null;
        error = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : 'network error';
      }
      if (this.closing.signal.aborted) return { kind: 'failed', approvalId: job.approvalId, attempts: attempt, status, error: 'closed' };
      if (attempt === maxAttempts) break;
      const backoff = Math.min(this.settings.maxBackoffMs, this.settings.initialBackoffMs * 2 ** (attempt - 1));
      // Jitter spreads the retries of several instances hitting the same failing hook.
      const wait = Math.min(this.settings.maxBackoffMs, Math.max(retryAfterMs, backoff * (0.75 + Math.random() * 0.5)));
      try {
        await this.sleep(wait, this.closing.signal);
      } catch {
        return { kind: 'failed', approvalId: job.approvalId, attempts: attempt, status, error: 'closed' };
      }
    }
    return { kind: 'failed', approvalId: job.approvalId, attempts: maxAttempts, status, error };
  }

  private report(result: WebhookResult): void {
    try {
      this.onResult(result);
    } catch {
      // The report is for the log; a failing log must not stop the worker.
    }
  }
}

/** The Slack-compatible body for a new request. Exported for the tests and the docs. */
export function approvalMessage(approval: ApprovalView, opts: { publicUrl?: string | undefined; includeStatement?: boolean } = {}): { text: string } {
  const lines = [
    `Approval needed: request ${esc(approval.id)}`,
    `${esc(approval.requester.subject)} wants to read trace ${esc(approval.traceId)} under rule ${esc(approval.rule)}` +
      (approval.reason === null ? '.' : ` (${esc(approval.reason)}).`),
    `Approvers: ${approval.approverGroups.map(esc).join(', ')}; distinct approvals needed: ${approval.quorum}; expires ${new Date(approval.expiresAt).toISOString()}.`,
  ];
  if (opts.includeStatement ?? true) {
    const sql = approval.statement.length > STATEMENT_PREVIEW_CHARS ? `${approval.statement.slice(0, STATEMENT_PREVIEW_CHARS)}…` : approval.statement;
    // A backtick inside the SQL (PostgreSQL never needs one) could close the code block
    // early; a look-alike keeps the text readable.
    lines.push(`\`\`\`${esc(sql).replaceAll('`', '\u02cb')}\`\`\``);
  }
  const where = opts.publicUrl === undefined ? '' : `${new URL('/#approvals', opts.publicUrl).href} or `;
  lines.push(`Approve or deny: ${where}\`tracegate approvals approve ${esc(approval.id)}\``);
  return { text: lines.join('\n') };
}

// Slack reads <...> as links and mentions (<!channel>); these three are its escapes.
function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function retryAfter(header: string | null): number {
  if (header === null) return 0;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}
