// The webhook notifier: Slack-shaped body, retries with backoff on 5xx / 429 / network
// errors, no retry on other 4xx, a bounded queue that drops rather than blocks, and
// notify() returning at once whatever the hook does. A real loopback HTTP server checks
// what actually goes over the wire.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import type { ApprovalEvent, ApprovalView } from '../../../src/approvals/approval.js';
import { approvalMessage, WebhookNotifier, type WebhookResult } from '../../../src/approvals/webhook-notifier.js';

function view(overrides: Partial<ApprovalView> = {}): ApprovalView {
  return {
    id: 'apr-1',
    state: 'pending',
    sessionId: 'sess-1',
    statementId: null,
    requester: { subject: 'agent-a', groups: ['ai-agents'] },
    traceId: 'trace-7',
    rule: 'high-risk',
    statement: "SELECT * FROM traces WHERE trace_id = 'trace-7'",
    reason: 'trace risk is high',
    approverGroups: ['security'],
    quorum: 1,
    approvals: [],
    requestedAt: 0,
    expiresAt: 600_000,
    ageMs: 0,
    decidedAt: null,
    outcome: null,
    ...overrides,
  };
}

function scriptedFetch(answers: (number | 'network')[]) {
  const calls: { url: string; body: string }[] = [];
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), body: String(init?.body) });
    const next = answers.shift() ?? 200;
    if (next === 'network') throw new TypeError('fetch failed');
    return new Response('ok', { status: next });
  }) as typeof fetch;
  return { fetchImpl, calls };
}

describe('approvalMessage', () => {
  test('names the request, requester, trace, rule, reason, statement and how to approve', () => {
    const { text } = approvalMessage(view(), { publicUrl: 'https://tracegate.example.com/' });
    expect(text).toContain('apr-1');
    expect(text).toContain('agent-a wants to read trace trace-7 under rule high-risk (trace risk is high)');
    expect(text).toContain("```SELECT * FROM traces WHERE trace_id = 'trace-7'```");
    expect(text).toContain('https://tracegate.example.com/#approvals');
    expect(text).toContain('tracegate approvals approve apr-1');
  });

  test('escapes Slack control text and can leave the SQL out', () => {
    const { text } = approvalMessage(view({ requester: { subject: '<!channel>', groups: [] }, statement: 'SELECT 1 ```' }));
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
    expect(text.match(/`/g)).toHaveLength(8); // two fences of three and the command's pair
    expect(approvalMessage(view(), { includeStatement: false }).text).not.toContain('SELECT');
  });
});

describe('WebhookNotifier', () => {
  test('retries 5xx, 429 and network errors with growing backoff, then delivers', async () => {
    const { fetchImpl, calls } = scriptedFetch([503, 'network', 429, 200]);
    const waits: number[] = [];
    const results: WebhookResult[] = [];
    const notifier = new WebhookNotifier(
      { url: 'https://hooks.example.com/T/B/secret', initialBackoffMs: 100, maxBackoffMs: 10_000 },
      { fetch: fetchImpl, sleep: async (ms) => void waits.push(ms), onResult: (r) => results.push(r) },
    );
    expect(notifier.notify(view())).toBe(true);
    await notifier.idle();
    expect(calls).toHaveLength(4);
    expect(JSON.parse(calls[0]?.body ?? '')).toHaveProperty('text');
    expect(results).toEqual([{ kind: 'delivered', approvalId: 'apr-1', attempts: 4 }]);
    // 100, 200, 400 with ±25 % jitter.
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThanOrEqual(75);
    expect(waits[0]).toBeLessThanOrEqual(125);
    expect(waits[2]).toBeGreaterThanOrEqual(300);
    expect(waits[2]).toBeLessThanOrEqual(500);
  });

  test('a 4xx other than 429 is a configuration error: no retry, and the URL is not in the result', async () => {
    const { fetchImpl, calls } = scriptedFetch([404]);
    const results: WebhookResult[] = [];
    const notifier = new WebhookNotifier(
      { url: 'https://hooks.example.com/T/B/secret' },
      { fetch: fetchImpl, sleep: async () => undefined, onResult: (r) => results.push(r) },
    );
    notifier.notify(view());
    await notifier.idle();
    expect(calls).toHaveLength(1);
    expect(results).toEqual([{ kind: 'failed', approvalId: 'apr-1', attempts: 1, status: 404, error: 'HTTP 404' }]);
    expect(JSON.stringify(results)).not.toContain('secret');
  });

  test('gives up after maxAttempts', async () => {
    const { fetchImpl, calls } = scriptedFetch([500, 500, 500, 500]);
    const results: WebhookResult[] = [];
    const notifier = new WebhookNotifier({ url: 'https://h.example.com/x', maxAttempts: 3 }, { fetch: fetchImpl, sleep: async () => undefined, onResult: (r) => results.push(r) });
    notifier.notify(view());
    await notifier.idle();
    expect(calls).toHaveLength(3);
    expect(results[0]).toMatchObject({ kind: 'failed', attempts: 3, status: 500 });
  });

  test('notify never waits; a full queue drops the newest', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const fetchImpl = (async () => {
      await gate;
      return new Response('ok');
    }) as typeof fetch;
    const results: WebhookResult[] = [];
    const notifier = new WebhookNotifier({ url: 'https://h.example.com/x', queueSize: 2 }, { fetch: fetchImpl, onResult: (r) => results.push(r) });
    const started = performance.now();
    // The first is taken by the worker at once; two more fill the queue; the fourth drops.
    expect(notifier.notify(view({ id: 'a' }))).toBe(true);
    await Promise.resolve();
    expect(notifier.notify(view({ id: 'b' }))).toBe(true);
    expect(notifier.notify(view({ id: 'c' }))).toBe(true);
    expect(notifier.notify(view({ id: 'd' }))).toBe(false);
    expect(performance.now() - started).toBeLessThan(50);
    release();
    await notifier.idle();
    expect(results.map((r) => `${r.kind}:${r.approvalId}`)).toEqual(['dropped:d', 'delivered:a', 'delivered:b', 'delivered:c']);
  });

  test('watch posts on new requests only; close drops what is queued', async () => {
    const { fetchImpl, calls } = scriptedFetch([]);
    const notifier = new WebhookNotifier({ url: 'https://h.example.com/x' }, { fetch: fetchImpl });
    const listeners: ((e: ApprovalEvent) => void)[] = [];
    notifier.watch({
      subscribe: (l) => {
        listeners.push(l);
        return () => undefined;
      },
    });
    for (const l of listeners) {
      l({ type: 'requested', approval: view(), pending: 1 });
      l({ type: 'decided', approval: view(), outcome: { kind: 'timed-out' }, pending: 0 });
    }
    await notifier.idle();
    expect(calls).toHaveLength(1);
    await notifier.close();
    expect(notifier.notify(view())).toBe(false);
  });

  test('posts JSON to a real HTTP endpoint', async () => {
    const received: { type: string | undefined; body: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ type: req.headers['content-type'], body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const results: WebhookResult[] = [];
      const notifier = new WebhookNotifier({ url: `http://127.0.0.1:${port}/hook` }, { onResult: (r) => results.push(r) });
      notifier.notify(view());
      await notifier.idle();
      expect(results).toEqual([{ kind: 'delivered', approvalId: 'apr-1', attempts: 1 }]);
      expect(received[0]?.type).toBe('application/json');
      expect(JSON.parse(received[0]?.body ?? '{}').text).toContain('apr-1');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
