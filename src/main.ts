// Composition root: builds every part of the proxy from the configuration and wires
// them together. Nothing else constructs services; tests call startProxy with a config.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { startAdminServer, type RunningAdminServer } from './admin/server.js';
import { Metrics } from './admin/metrics.js';
import type { ApprovalService } from './approvals/approval.js';
import { ApprovalBroker } from './approvals/broker.js';
import { WebhookNotifier } from './approvals/webhook-notifier.js';
import { renderReplay } from './audit/replay.js';
import { openSqliteStore } from './audit/sqlite-store.js';
import type { AuditStore } from './audit/store.js';
import { createTokenVerifier } from './auth/oidc-verifier.js';
import { upstreamPassword, type Config } from './config.js';
import { startCredentials } from './credentials/credentials.js';
import type { CredentialStore } from './credentials/credential-store.js';
import { MemoryCredentialStore } from './credentials/memory-credential-store.js';
import { fatal } from './errors.js';
import { createGateFactory } from './gate/policy-gate.js';
import { GrantRegistry } from './grants/grant-registry.js';
import { createLogger } from './log.js';
import { ColumnCatalog } from './masking/catalog.js';
import { createMasker } from './masking/masker.js';
import { loadPolicyFile } from './policy/load.js';
import { QuotaTracker, type QuotaStore } from './policy/quota.js';
import { ruleForIdentity } from './policy/rules.js';
import type { Policy } from './policy/types.js';
import { RevocationList, revokedError, revokedLoginError } from './revocation/revocations.js';
import { ProxyListener } from './server/listener.js';
import { CancelRegistry } from './session/cancel-registry.js';
import { initSqlParser } from './sql/analyze.js';
import { openSharedStore, type SharedStore } from './store-pg/pg-shared-store.js';
import { fileCredential, fixedCredential } from './upstream/credential.js';
import { UpstreamLookups } from './upstream/lookups.js';
import { UpstreamPool } from './upstream/pool.js';

export interface RunningProxy {
  readonly host: string;
  readonly port: number;
  readonly listener: ProxyListener;
  readonly admin: RunningAdminServer | undefined;
  readonly approvals: RunningApprovals;
  readonly revocations: RevocationList;
  /** The shared Postgres store, when the config names one (`store: { postgres }`). */
  readonly shared: SharedStore | undefined;
  readonly grants: GrantRegistry;
  readonly store: AuditStore;
  readonly metrics: Metrics;
  readonly pool: UpstreamPool;
  /** Loads the policy file again; on error the old policy stays and the error is thrown. */
  reloadPolicy(): Policy;
  close(): Promise<void>;
}

/** The in-memory broker (one instance) or the shared store's service (several). */
export type RunningApprovals = ApprovalService & { readonly pending: number; close(reason?: string): Promise<void> };

export interface StartOptions {
  readonly log?: Logger;
}

export async function startProxy(config: Config, opts: StartOptions = {}): Promise<RunningProxy> {
  const log = opts.log ?? createLogger({ level: config.log.level });
  await initSqlParser();
  if (!config.policy) throw new Error(`${config.file}: policy: a policy file is required`);
  const policyFile = config.policy;
  let policy = loadPolicyFile(policyFile, { searchPath: config.upstream.searchPath });
  let masker = maskerFor(policy);
  const password = upstreamPassword(config);
  const secureContext =
    config.tls.cert && config.tls.key
      ? tls.createSecureContext({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key), minVersion: 'TLSv1.2' })
      : undefined;
  const verifier = createTokenVerifier({
    issuer: config.oidc.issuer,
    audience: config.oidc.audience,
    jwksUri: config.oidc.jwksUri,
    subjectClaim: config.oidc.subjectClaim,
    groupsClaim: config.oidc.groupsClaim,
    clockSkewSeconds: config.oidc.clockSkew / 1000,
    algorithms: config.oidc.algorithms,
    verifiedCacheSize: config.oidc.verifiedCache.size,
    verifiedCacheSeconds: config.oidc.verifiedCache.ttl / 1000,
  });
  const endpoint = {
    host: config.upstream.host,
    port: config.upstream.port,
    tls: config.upstream.tls,
    connectTimeoutMs: config.upstream.connectTimeout,
  };
  const credential = config.upstream.passwordFile === undefined ? fixedCredential(password) : fileCredential(config.upstream.passwordFile, password);
  const upstreamTarget = { endpoint, database: config.upstream.database, user: config.upstream.user, credential };
  const { maxIdle, idleTimeout, maxLifetime } = config.upstream.pool;
  const pool = new UpstreamPool(upstreamTarget, { maxIdle, idleTimeoutMs: idleTimeout, maxLifetimeMs: maxLifetime }, Date.now, (reason) =>
    log.debug({ event: 'upstream.discard', reason }, 'upstream connection closed'),
  );
  const onStoreError = (err: unknown, context: string): void => log.error({ event: 'audit.error', context, err: String(err) }, 'audit store write failed');
  const revocations = new RevocationList();
  // SQLite and in-memory state for one instance; one Postgres store shared by several
  // (store-pg/): audit chain, approvals, revocations, credentials and quotas.
  const shared =
    'postgres' in config.store
      ? await openSharedStore({
          config: config.store.postgres,
          revocations,
          onError: (err, context) => log.error({ event: 'store.error', context, err: String(err) }, 'shared store problem'),
        })
      : undefined;
  const store: AuditStore =
    'sqlite' in config.store
      ? await openSqliteStore({
          path: config.store.sqlite.path,
          synchronous: config.store.sqlite.synchronous === 'full' ? 'FULL' : 'NORMAL',
          onError: onStoreError,
        })
      : (shared as SharedStore).audit;
  const metrics = new Metrics({ mode: config.mode });
  const lookups = new UpstreamLookups(upstreamTarget, Date.now);
  const grants = new GrantRegistry(Date.now, {
    issued: () => metrics.grantIssued(),
    discarded: () => metrics.grantEnded(),
    revoked: (grant, reason, at) => {
      metrics.grantEnded();
      store.recordGrantRevoked({ grantId: grant.id, sessionId: grant.sessionId, at, reason });
    },
  });
  const approvals: RunningApprovals =
    shared?.approvals ?? new ApprovalBroker({ recorder: store, approverRevoked: (approver) => revocations.isRevoked(approver) !== undefined });
  const stopExpiry = revocations.startExpiry(60_000);
  metrics.watchApprovals(approvals);
  metrics.watchRevocations(revocations);
  metrics.watchUpstreamPool(pool);
  const webhook = config.admin?.webhook
    ? new WebhookNotifier({
        url: config.admin.webhook.url,
        publicUrl: config.admin.publicUrl,
        includeStatement: config.admin.webhook.includeStatement,
        timeoutMs: config.admin.webhook.timeout,
        maxAttempts: config.admin.webhook.maxAttempts,
      })
    : undefined;
  const unwatchWebhook = webhook?.watch(approvals);
  const catalog = new ColumnCatalog();
  // Tables can be altered or recreated under the same names; what masking resolves a
  // column to must not outlive that for long. Unknown OIDs are looked up at once anyway.
  const catalogRefresh = setInterval(() => catalog.invalidate(), 60_000);
  catalogRefresh.unref();
  const cancels = new CancelRegistry();
  // One quota for statements and credential requests: a credential's read is charged
  // when it is issued, so the two paths cannot each spend a full quota.
  const quotas: QuotaStore = shared?.quotas ?? new QuotaTracker();
  const credentialStore: CredentialStore = shared?.credentials ?? new MemoryCredentialStore();
  const credentials = startCredentials({
    policy: () => policy,
    traceFacts: (table, traceId) => lookups.trace(table, traceId),
    quotas,
    approvals,
    store: credentialStore,
    recorder: store,
    log,
    now: Date.now,
  });
  let admin: RunningAdminServer | undefined;
  const gates = createGateFactory({
    policy: () => policy,
    mode: config.mode,
    store,
    grants,
    quotas,
    traceFacts: (table, traceId) => lookups.trace(table, traceId),
    catalogQuery: lookups.query,
    masker: () => masker,
    catalog,
    approvals,
    approvalUrl: () => config.admin?.publicUrl ?? admin?.url,
    log,
    now: Date.now,
    maxStatementBytes: config.limits.maxStatementSize,
    onDecision: (outcome, category, seconds) => {
      metrics.statement(outcome === 'needs-approval' ? 'approval' : outcome, category);
      metrics.decisionDuration(seconds);
    },
    onRequestDone: (seconds) => metrics.upstreamDuration(seconds),
    spendCredential: (credentialId, detail) => void credentials.redeemer.spend(credentialId, detail),
  });
  if (config.mode === 'monitor') {
    const warning = 'MONITOR MODE: decisions are recorded but NOT enforced; denied statements will run';
    log.warn({ event: 'mode.monitor' }, warning);
    // An operator who turned the log down (log.level: error or silent) must still be told.
    if (!log.isLevelEnabled('warn')) process.stderr.write(`tracegate: WARNING: ${warning}\n`);
  }

  const listener = new ProxyListener({
    host: config.listen.host,
    port: config.listen.port,
    maxConnections: config.limits.maxConnections,
    maxConnectionsPerAddress: config.limits.maxConnectionsPerAddress,
    maxSessionsPerSubject: config.limits.maxSessionsPerSubject,
    drainTimeoutMs: config.limits.drainTimeout,
    log,
    onConnection: (open) => (open ? metrics.connectionOpened() : metrics.connectionClosed()),
    session: {
      log,
      loginTimeoutMs: config.limits.loginTimeout,
      idleTimeoutMs: config.limits.idleTimeout,
      newId: randomUUID,
      now: Date.now,
      // A one-time credential session is enforced even in monitor mode: no such notice.
      loginNotices: (identity) =>
        config.mode === 'monitor' && identity.credential === undefined
          ? ['tracegate is in MONITOR mode: policy decisions are recorded but not enforced on this connection']
          : [],
      admit: (identity) => {
        const revoked = revocations.isRevoked(identity);
        if (revoked) throw revokedLoginError(revoked);
        if (!ruleForIdentity(policy, identity)) {
          throw fatal('28000', `no tracegate rule matches the groups of ${identity.subject}`);
        }
      },
      login: {
        secureContext,
        allowPlaintextOnLoopback: config.tls.allowPlaintextOnLoopback,
        maxMessageBytes: config.limits.maxMessageSize,
        pins: { statementTimeoutMs: config.upstream.statementTimeout, searchPath: config.upstream.searchPath, readOnly: config.upstream.readOnly },
        cancels,
        verify: (token) => verifier.verify(token),
        credentials: credentials.login,
      },
      upstream: pool,
      recordStart: async (session) => {
        try {
          await store.recordSessionStart({
            sessionId: session.id,
            at: session.startedAt,
            subject: session.identity.subject,
            groups: session.identity.groups,
            tokenJti: session.identity.jti ?? null,
            tokenHash: session.identity.tokenHash,
            clientAddress: session.clientAddress,
            applicationName: session.applicationName || null,
            tls: session.tls,
            mode: config.mode,
          });
          await credentials.redeemer.redeemed(session.identity, session.id);
        } catch {
          throw fatal('58030', 'the audit store cannot record this session, so it was refused');
        }
      },
      gate: (session, controls) => gates.forSession(session, controls),
    },
  });
  // A revocation ends matching live sessions at once, wherever it came from.
  const unwatchRevocations = revocations.subscribe((event) => {
    if (event.type !== 'revoked') return;
    const { revocation } = event;
    listener.terminate((s) => revocations.matches({ id: s.info.id, identity: s.info.identity }) === revocation, revokedError(revocation));
  });
  const address = await listener.listen();
  admin = config.admin
    ? await startAdminServer({
        listen: config.admin.listen,
        adminGroups: config.admin.adminGroups,
        approverGroups: config.admin.approverGroups,
        metricsAccess: config.admin.metricsAccess,
        verifier,
        approvals,
        revocations,
        revocationsShared: shared ? () => shared.revocationSync.settled(2_000) : undefined,
        listener,
        grants: () => grants.active(),
        recordings: store,
        renderReplay,
        policy: () => policyView(policy),
        metrics,
        ready: async () => ((await lookups.ping()) ? { ready: true } : { ready: false, reason: 'the upstream database does not answer' }),
        recorder: store,
        credentials: {
          issuer: credentials.issuer,
          connection: {
            host: address.host,
            port: address.port,
            database: config.upstream.database,
            sslmode: secureContext ? 'require' : 'disable',
          },
        },
        log,
      })
    : undefined;
  log.info({ event: 'listening', ...address, admin: admin?.url, mode: config.mode }, 'tracegate is listening');

  return {
    ...address,
    listener,
    admin,
    approvals,
    revocations,
    shared,
    grants,
    store,
    metrics,
    pool,
    reloadPolicy: () => {
      const next = loadPolicyFile(policyFile, { searchPath: config.upstream.searchPath });
      masker = maskerFor(next);
      policy = next;
      catalog.invalidate();
      return next;
    },
    close: async () => {
      clearInterval(catalogRefresh);
      unwatchRevocations();
      stopExpiry();
      unwatchWebhook?.();
      credentials.close();
      await admin?.close();
      await approvals.close('tracegate is shutting down');
      await listener.close();
      await pool.close();
      await webhook?.close();
      await store.close();
      await shared?.close();
      await lookups.close();
    },
  };
}

function maskerFor(policy: Policy): ReturnType<typeof createMasker> {
  return createMasker({ ...policy.masking, detectors: policy.masking.detectors === 'none' ? [] : policy.masking.detectors });
}

/** The loaded policy as the admin API shows it: what it decides on, never the hash key. */
function policyView(policy: Policy): unknown {
  return {
    file: policy.file,
    searchPath: policy.searchPath,
    traceTables: policy.traceTables,
    rules: policy.rules.map((r) => ({ ...r, approval: r.approval && { ...r.approval, risks: [...r.approval.risks] } })),
    settings: { allowed: [...policy.settings.allowed], maxStatementTimeoutMs: policy.settings.maxStatementTimeoutMs },
    masking: {
      detectors: policy.masking.detectors,
      columns: policy.masking.columns,
      hashKey: policy.masking.hashKey === undefined ? null : `sha256:${createHash('sha256').update(policy.masking.hashKey).digest('hex').slice(0, 12)}`,
    },
  };
}
