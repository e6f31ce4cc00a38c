// What the admin server needs from the rest of the proxy, each as the narrowest
// interface that does the job, so the composition root passes the real parts (the OIDC
// verifier, the ApprovalBroker, the RevocationList, the ProxyListener, the AuditStore,
// Metrics) and tests pass the same real parts without a proxy around them.
import type { Logger } from 'pino';
import type { ApprovalService } from '../approvals/approval.js';
import type { AdminAction, SessionDetail, SessionQuery, SessionSummary, TlsInfo } from '../audit/store.js';
import type { CredentialIssuer } from '../credentials/credential-issuer.js';
import type { ClientError } from '../errors.js';
import type { Identity } from '../identity.js';
import type { RevocableSession, Revocation, RevokeInput } from '../revocation/revocations.js';

export interface AdminTokenVerifier {
  verify(token: string): Promise<Identity>;
}

export type AdminApprovals = Pick<ApprovalService, 'list' | 'get' | 'approve' | 'deny'>;

export interface AdminRevocations {
  revoke(input: RevokeInput): Revocation;
  isRevoked(identity: RevocableSession['identity'], sessionId?: string): Revocation | undefined;
  list(): readonly Revocation[];
}

/** A live session as the listener tracks it (session/session.ts LiveSession fits). */
export interface AdminLiveSession {
  readonly info: {
    readonly id: string;
    readonly identity: Identity;
    readonly clientAddress: string;
    readonly applicationName: string;
    /** The negotiated TLS protocol and cipher; null on loopback plaintext. */
    readonly tls: TlsInfo | null;
    readonly startedAt: number;
  };
}

/** ProxyListener fits: the live sessions, and ending those a revocation matches. */
export interface AdminLiveSessions {
  sessions(): readonly AdminLiveSession[];
  terminate(match: (session: AdminLiveSession) => boolean, err: ClientError): number;
}

/** A single-use grant held now (grants/ GrantRegistry's Grant fits). */
export interface ActiveGrantView {
  readonly id: string;
  readonly subject: string;
  readonly sessionId: string;
  readonly traceId: string;
  readonly rule: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** The recording's read side; AuditStore fits. */
export interface RecordedSessions {
  listSessions(query: SessionQuery): Promise<SessionSummary[]>;
  getSession(sessionId: string): Promise<SessionDetail | null>;
}

/** Durable recording of admin actions; AuditStore fits. */
export interface AdminRecorder {
  recordAdminAction(action: AdminAction): Promise<void>;
}

/** Metrics fits. */
export interface MetricsExposition {
  readonly contentType: string;
  render(): Promise<string>;
}

/** Where a credential's holder connects, for the psql line and URL the API hands out. */
export interface ProxyConnection {
  /** The proxy's listen address; a wildcard (0.0.0.0, ::) is replaced by the host the caller used. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly sslmode: 'require' | 'disable';
}

/** One-time trace credentials (credentials/): the issuer, and where the proxy listens. */
export interface AdminCredentials {
  readonly issuer: Pick<CredentialIssuer, 'request' | 'status'>;
  readonly connection: ProxyConnection;
}

export type ReadyCheck = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/**
 * Who may call /metrics: `public` (the usual choice on an internal admin port that a
 * Prometheus scrapes without credentials) or `admins` (a bearer token in the admin
 * groups, when the admin port is reachable from where it should not be).
 */
export type MetricsAccess = 'public' | 'admins';

export interface AdminDeps {
  readonly listen: { readonly host: string; readonly port: number };
  /** May revoke, list sessions and grants, read recordings and the policy. */
  readonly adminGroups: readonly string[];
  /** May list, approve and deny approval requests (each request's rule narrows this further). */
  readonly approverGroups: readonly string[];
  readonly metricsAccess?: MetricsAccess;
  readonly verifier: AdminTokenVerifier;
  readonly approvals: AdminApprovals;
  readonly revocations: AdminRevocations;
  /**
   * With a store shared by several instances: resolves true once every revocation made
   * here is stored for the others (false after a bounded wait). Absent for one instance.
   */
  readonly revocationsShared?: () => Promise<boolean>;
  readonly listener: AdminLiveSessions;
  readonly grants: () => readonly ActiveGrantView[];
  /** Absent when no store is configured: the recording routes answer 503. */
  readonly recordings?: RecordedSessions;
  /** A recorded session as the client saw it, line by line (audit/replay.ts renderReplay). */
  readonly renderReplay: (detail: SessionDetail) => readonly string[];
  /** The loaded policy as plain data (what the file said, after validation). */
  readonly policy: () => unknown;
  readonly metrics: MetricsExposition;
  /** /readyz: the proxy listens and the upstream answers. Should answer within 2 s. */
  readonly ready: () => ReadyCheck | Promise<ReadyCheck>;
  readonly recorder: AdminRecorder;
  /** Absent: no credential routes (the proxy always passes them). */
  readonly credentials?: AdminCredentials;
  readonly log: Logger;
  readonly now?: () => number;
  readonly newId?: () => string;
}
