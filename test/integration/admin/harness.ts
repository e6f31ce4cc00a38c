// Starts the admin server the way the composition root will: the real OIDC verifier
// against the dev issuer, a real ApprovalBroker and RevocationList, a real SQLite audit
// store in a temporary directory (recording approval steps and admin actions, and
// answering the recording routes), real Metrics and the real replay renderer. Only the
// proxy listener is a small in-test double (live sessions with their real verified
// identities), unless a test passes the real ProxyListener.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { ActiveGrantView, AdminDeps, AdminLiveSession, AdminLiveSessions, MetricsAccess, ReadyCheck } from '../../../src/admin/deps.js';
import { Metrics } from '../../../src/admin/metrics.js';
import { startAdminServer, type RunningAdminServer } from '../../../src/admin/server.js';
import { ApprovalBroker } from '../../../src/approvals/broker.js';
import { renderReplay } from '../../../src/audit/replay.js';
import { openSqliteStore, type SqliteAuditStore } from '../../../src/audit/sqlite-store.js';
import { createTokenVerifier, type TokenVerifier } from '../../../src/auth/oidc-verifier.js';
import type { ClientError } from '../../../src/errors.js';
import type { Identity } from '../../../src/identity.js';
import { RevocationList } from '../../../src/revocation/revocations.js';
import { testEnv } from '../../helpers/env.js';

export const ADMIN_GROUPS = ['tracegate-admins'] as const;
export const APPROVER_GROUPS = ['security'] as const;

/** Live sessions as the listener would hold them; terminate records the error it sent. */
export class LiveSessionsDouble implements AdminLiveSessions {
  readonly ended: { id: string; err: ClientError }[] = [];
  private readonly live: AdminLiveSession[] = [];

  add(id: string, identity: Identity, startedAt = Date.now()): void {
    this.live.push({ info: { id, identity, clientAddress: '127.0.0.1', applicationName: 'psql', tls: null, startedAt } });
  }

  sessions(): readonly AdminLiveSession[] {
    return [...this.live];
  }

  terminate(match: (session: AdminLiveSession) => boolean, err: ClientError): number {
    let n = 0;
    for (let i = this.live.length - 1; i >= 0; i--) {
      const session = this.live[i] as AdminLiveSession;
      if (!match(session)) continue;
      this.live.splice(i, 1);
      this.ended.push({ id: session.info.id, err });
      n++;
    }
    return n;
  }
}

export interface AdminHarnessOptions {
  readonly listener?: AdminLiveSessions;
  readonly metricsAccess?: MetricsAccess;
  readonly policy?: () => unknown;
  readonly grants?: readonly ActiveGrantView[];
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly body: any;
}

export interface AdminHarness extends AsyncDisposable {
  readonly server: RunningAdminServer;
  readonly url: string;
  readonly broker: ApprovalBroker;
  readonly revocations: RevocationList;
  readonly store: SqliteAuditStore;
  readonly metrics: Metrics;
  readonly live: LiveSessionsDouble;
  readonly verifier: TokenVerifier;
  ready: ReadyCheck;
  call(method: string, path: string, opts?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<Reply>;
  close(): Promise<void>;
}

export function testVerifier(): TokenVerifier {
  const { oidc } = testEnv();
  return createTokenVerifier({
    issuer: oidc.issuer,
    audience: oidc.audience,
    subjectClaim: 'sub',
    groupsClaim: 'groups',
    clockSkewSeconds: 0,
    algorithms: ['RS256'],
  });
}

export async function startAdminHarness(opts: AdminHarnessOptions = {}): Promise<AdminHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-admin-'));
  const store = await openSqliteStore({ path: join(dir, 'audit.db') });
  const verifier = testVerifier();
  const broker = new ApprovalBroker({ recorder: store });
  const revocations = new RevocationList();
  const metrics = new Metrics({ mode: 'enforce' });
  metrics.watchApprovals(broker);
  const live = new LiveSessionsDouble();
  const harness = {
    ready: { ready: true } as ReadyCheck,
  };
  const deps: AdminDeps = {
    listen: { host: '127.0.0.1', port: 0 },
    adminGroups: ADMIN_GROUPS,
    approverGroups: APPROVER_GROUPS,
    metricsAccess: opts.metricsAccess ?? 'public',
    verifier,
    approvals: broker,
    revocations,
    listener: opts.listener ?? live,
    grants: () => opts.grants ?? [],
    recordings: store,
    renderReplay,
    policy: opts.policy ?? (() => ({ rules: [{ name: 'high-risk', groups: ['ai-agents'] }] })),
    metrics,
    ready: () => harness.ready,
    recorder: store,
    log: pino({ level: process.env['TRACEGATE_TEST_LOG'] ?? 'silent' }),
  };
  const server = await startAdminServer(deps);
  const close = async (): Promise<void> => {
    await broker.close();
    await server.close();
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  return Object.assign(harness, {
    server,
    url: server.url,
    broker,
    revocations,
    store,
    metrics,
    live,
    verifier,
    call: async (method: string, path: string, o: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token !== undefined) headers['authorization'] = `Bearer ${o.token}`;
      let body: string | undefined = o.raw;
      if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${server.url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, text, body: parsed };
    },
    close,
    [Symbol.asyncDispose]: close,
  });
}
