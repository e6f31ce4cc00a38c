// `tracegate credential --trace T --reason R`: asks the admin API for a one-time trace
// credential and prints it with a ready psql line, for scripts and orchestrators. When
// the trace needs approval it waits, with progress on stderr, until approvers decide.
// stdout carries only the result, so `$(tracegate credential ...)` captures nothing else.
import { parseArgs } from 'node:util';
import { DEFAULT_ADMIN_URL, processIo, type CliIo } from '../admin/admin-client.js';
import { MAX_WAIT_SECONDS } from '../admin/credential-routes.js';

export const TOKEN_ENV = 'TRACEGATE_TOKEN';

export const CREDENTIAL_HELP = `Usage:
  tracegate credential --trace T --reason R [--ttl SECONDS] [--json]

Asks tracegate for a one-time credential to read ONE trace. It works once, as the
Postgres password with the credential id as the user name: the session may read that
trace, once, and nothing else. The policy decides as for a statement (your rule,
entitlement, quota); a trace that needs approval waits until an approver decides.

Prints two lines: the credential, then a psql command that uses it. The API's full
answer (with a postgresql:// URL for tools such as an MCP Postgres server) with --json.

Options:
  --trace T      the trace id
  --reason R     why you need it: recorded, and shown to approvers
  --ttl S        lifetime in seconds (default 60, at most the rule's grantTtl)
  --json         print the API's JSON answer instead
  --admin URL    the admin API (default ${DEFAULT_ADMIN_URL})
  --token T      your access token; prefer the ${TOKEN_ENV} environment variable, since
                 a command line is visible to other users of the machine
  --help         this text

Exit status: 0 issued; 1 refused, denied, expired or failed; 2 usage.`;

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly requestId: string | null;
}

export async function runCredentialCommand(args: string[], out: (line: string) => void, io: CliIo = processIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        trace: { type: 'string' },
        reason: { type: 'string' },
        ttl: { type: 'string' },
        json: { type: 'boolean' },
        admin: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.err(`tracegate credential: ${(err as Error).message}\n\n${CREDENTIAL_HELP}`);
    return 2;
  }
  if (values.help) {
    out(CREDENTIAL_HELP);
    return 0;
  }
  const usage = (problem: string): number => {
    io.err(`tracegate credential: ${problem}\n\n${CREDENTIAL_HELP}`);
    return 2;
  };
  if (!values.trace) return usage('--trace is required');
  if (!values.reason?.trim()) return usage('--reason is required');
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) return usage('--ttl takes a whole number of seconds');
  const token = values.token ?? io.env[TOKEN_ENV];
  if (!token) return usage(`an access token is required: set ${TOKEN_ENV} (or pass --token)`);
  const base = values.admin ?? DEFAULT_ADMIN_URL;
  if (!/^https?:\/\//.test(base) || !URL.canParse(base)) return usage(`--admin must be an http(s) URL, got ${base}`);

  const call = (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> => request(base, token, method, path, body);
  try {
    let answer = await call('POST', '/api/credentials', { trace_id: values.trace, reason: values.reason, ...(ttl === undefined ? {} : { ttl }) });
    if (answer.status === 202) {
      const id = String(answer.body['id']);
      const approval = String(answer.body['approval_id']);
      io.err(`waiting for approval: request ${approval} (rule ${String(answer.body['rule'])}); an approver runs: tracegate approvals approve ${approval}`);
      const started = Date.now();
      while (answer.status === 202) {
        answer = await call('GET', `/api/credentials/${encodeURIComponent(id)}?wait=${MAX_WAIT_SECONDS}`);
        if (answer.status === 202) io.err(`still waiting for approval ${approval} (${Math.round((Date.now() - started) / 1000)} s)`);
      }
    }
    return report(answer, values.json === true, out, io);
  } catch (err) {
    io.err(`tracegate credential: ${(err as Error).message}`);
    return 1;
  }
}

function report(answer: Answer, asJson: boolean, out: (line: string) => void, io: CliIo): number {
  const { body } = answer;
  if (answer.status >= 400) {
    const ref = answer.requestId === null ? '' : `, request ${answer.requestId}`;
    io.err(`tracegate credential: ${String(body['message'] ?? `HTTP ${answer.status}`)} (HTTP ${answer.status} ${String(body['error'] ?? '')}${ref})`);
    return 1;
  }
  if (body['state'] !== 'issued') {
    io.err(`tracegate credential: request ${String(body['id'])} is ${String(body['state'])}: ${String(body['message'] ?? '')}`);
    return 1;
  }
  if (asJson) {
    out(JSON.stringify(body, null, 2));
  } else {
    out(String(body['credential']));
    out(String(body['psql']));
  }
  io.err(`one-time credential ${String(body['id'])} for trace ${String(body['trace_id'])}: works once, until ${String(body['expires_at'])}`);
  return 0;
}

async function request(base: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      // A poll waits up to MAX_WAIT_SECONDS on the server.
      signal: AbortSignal.timeout((MAX_WAIT_SECONDS + 15) * 1000),
    });
  } catch (err) {
    const why = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : 'connection failed';
    throw new Error(`cannot reach the admin API at ${url.origin} (${why})`);
  }
  const parsed = (await res.json().catch(() => undefined)) as unknown;
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`the admin API answered HTTP ${res.status} with something other than JSON`);
  return { status: res.status, body: parsed as Record<string, unknown>, requestId: res.headers.get('tracegate-request') };
}
