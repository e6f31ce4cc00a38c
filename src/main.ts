// Composition root: builds every part of the proxy from the configuration and wires
// them together. Nothing else constructs services; tests call startProxy with a config.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { createTokenVerifier } from './auth/oidc-verifier.js';
import { upstreamPassword, type Config } from './config.js';
import { fatal } from './errors.js';
import { openSqliteStore } from './audit/sqlite-store.js';
import { createGateFactory } from './gate/policy-gate.js';
import { GrantRegistry } from './grants/grant-registry.js';
import { createLogger } from './log.js';
import { ColumnCatalog } from './masking/catalog.js';
import { createMasker } from './masking/masker.js';
import { loadPolicyFile } from './policy/load.js';
import { ruleForIdentity } from './policy/rules.js';
import { QuotaTracker } from './policy/quota.js';
import { initSqlParser } from './sql/analyze.js';
import { ProxyListener } from './server/listener.js';
import { CancelRegistry } from './session/cancel-registry.js';
import { UpstreamLookups } from './upstream/lookups.js';

export interface RunningProxy {
  readonly host: string;
  readonly port: number;
  readonly listener: ProxyListener;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly log?: Logger;
}

export async function startProxy(config: Config, opts: StartOptions = {}): Promise<RunningProxy> {
  const log = opts.log ?? createLogger({ level: config.log.level });
  await initSqlParser();
  if (!config.policy) throw new Error(`${config.file}: policy: a policy file is required`);
  const policy = loadPolicyFile(config.policy);
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
  });
  const endpoint = {
    host: config.upstream.host,
    port: config.upstream.port,
    tls: config.upstream.tls,
    connectTimeoutMs: config.upstream.connectTimeout,
  };
  const upstreamTarget = { endpoint, database: config.upstream.database, user: config.upstream.user, password };
  const store = await openSqliteStore({
    path: config.store.sqlite.path,
    synchronous: config.store.sqlite.synchronous === 'full' ? 'FULL' : 'NORMAL',
    onError: (err, context) => log.error({ event: 'audit.error', context, err: String(err) }, 'audit store write failed'),
  });
  const lookups = new UpstreamLookups(upstreamTarget, Date.now);
  const grants = new GrantRegistry(Date.now, (grant, reason, at) =>
    store.recordGrantRevoked({ grantId: grant.id, sessionId: grant.sessionId, at, reason }),
  );
  const masker = createMasker({ ...policy.masking, detectors: policy.masking.detectors === 'none' ? [] : policy.masking.detectors });
  const catalog = new ColumnCatalog();
  const cancels = new CancelRegistry();
  const gates = createGateFactory({
    policy: () => policy,
    mode: config.mode,
    store,
    grants,
    quotas: new QuotaTracker(),
    traceFacts: (table, traceId) => lookups.trace(table, traceId),
    catalogQuery: lookups.query,
    masker: () => masker,
    catalog,
    approvals: undefined,
    approvalUrl: undefined,
    log,
    now: Date.now,
  });
  if (config.mode === 'monitor') {
    log.warn({ event: 'mode.monitor' }, 'MONITOR MODE: decisions are recorded but NOT enforced; denied statements will run');
  }

  const listener = new ProxyListener({
    host: config.listen.host,
    port: config.listen.port,
    maxConnections: config.limits.maxConnections,
    log,
    session: {
      log,
      loginTimeoutMs: config.limits.loginTimeout,
      newId: randomUUID,
      now: Date.now,
      loginNotices:
        config.mode === 'monitor' ? ['tracegate is in MONITOR mode: policy decisions are recorded but not enforced on this connection'] : [],
      admit: (identity) => {
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
      },
      upstream: upstreamTarget,
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
        } catch {
          throw fatal('58030', 'the audit store cannot record this session, so it was refused');
        }
      },
      gate: (session, controls) => gates.forSession(session, controls),
    },
  });
  const address = await listener.listen();
  log.info({ event: 'listening', ...address, mode: config.mode }, 'tracegate is listening');
  return {
    ...address,
    listener,
    close: async () => {
      await listener.close();
      await store.close();
      await lookups.close();
    },
  };
}
