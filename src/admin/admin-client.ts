// A small client of the admin API for the CLI commands (`tracegate approvals`,
// `tracegate revoke`): the same routes the web page uses, with the same bearer token.
// It never prints or logs the token; errors carry the API's { error, message }.
import type { ApprovalView } from '../approvals/approval.js';
import type { Revocation } from '../revocation/revocations.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8080';
export const ADMIN_TOKEN_ENV = 'TRACEGATE_ADMIN_TOKEN';

export class AdminApiError extends Error {
  override readonly name = 'AdminApiError';

  constructor(
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}

export interface RevokeRequest {
  readonly subject?: string;
  readonly session?: string;
  readonly jti?: string;
  readonly until?: string;
  readonly reason: string;
}

export class AdminClient {
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: AdminClientOptions) {
    this.fetch = opts.fetch ?? fetch;
  }

  async listApprovals(): Promise<ApprovalView[]> {
    return (await this.call<{ approvals: ApprovalView[] }>('GET', '/api/approvals')).approvals;
  }

  async approve(id: string, reason?: string): Promise<ApprovalView> {
    return (await this.call<{ approval: ApprovalView }>('POST', `/api/approvals/${encodeURIComponent(id)}/approve`, reason === undefined ? {} : { reason })).approval;
  }

  async deny(id: string, reason?: string): Promise<ApprovalView> {
    return (await this.call<{ approval: ApprovalView }>('POST', `/api/approvals/${encodeURIComponent(id)}/deny`, reason === undefined ? {} : { reason })).approval;
  }

  revoke(request: RevokeRequest): Promise<{ revocation: Revocation; sessionsEnded: number }> {
    return this.call('POST', '/api/revoke', request);
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.opts.baseUrl);
    let res: Response;
    try {
      res = await this.fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.opts.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const why = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : 'connection failed';
      throw new AdminApiError(0, 'unreachable', `cannot reach the admin API at ${url.origin} (${why})`);
    }
    const payload = (await res.json().catch(() => undefined)) as { error?: unknown; message?: unknown } | undefined;
    if (!res.ok) {
      const code = typeof payload?.error === 'string' ? payload.error : 'http';
      const message = typeof payload?.message === 'string' ? payload.message : `HTTP ${res.status}`;
      throw new AdminApiError(res.status, code, message);
    }
    if (payload === undefined) throw new AdminApiError(res.status, 'bad-response', 'the admin API answered with something other than JSON');
    return payload as T;
  }
}

/** Where a CLI command writes errors and reads its environment (tests pass their own). */
export interface CliIo {
  readonly err: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const processIo: CliIo = { err: (line) => process.stderr.write(`${line}\n`), env: process.env };

/** The --admin and --token flags, with the environment as the token's fallback. */
export function adminClientFrom(
  values: { readonly admin?: string | undefined; readonly token?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): AdminClient | string {
  const token = values.token ?? env[ADMIN_TOKEN_ENV];
  if (!token) return `an access token is required: set ${ADMIN_TOKEN_ENV} (or pass --token)`;
  const baseUrl = values.admin ?? DEFAULT_ADMIN_URL;
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `--admin must be an http(s) URL, got ${baseUrl}`;
  } catch {
    return `--admin must be an http(s) URL, got ${baseUrl}`;
  }
  return new AdminClient({ baseUrl, token });
}
