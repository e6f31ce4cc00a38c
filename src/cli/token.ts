// `tracegate token CLIENT`: prints a fresh access token for one of the running demo's
// clients, fetched from the demo's development issuer with client_credentials, exactly
// as an agent would get one from a real issuer. Only the token goes to stdout, so
// `PGPASSWORD=$(tracegate token agent-a)` works; everything else goes to stderr.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DemoStateError, isDemoAlive, readDemoState, type DemoState } from '../demo/demo-state.js';
import { requestClientCredentialsToken } from '../demo/dev-issuer.js';
import { defaultDemoStateDir } from '../demo/package-root.js';

const HELP = `Usage: tracegate token CLIENT [--state-dir DIR] [--expires-in SECONDS] [--env]

Prints an OIDC access token for CLIENT (agent-a, agent-b, reviewer or admin) from the
development issuer of the running \`tracegate demo\`. Use it as the Postgres password:

  PGPASSWORD=$(npx tracegate token agent-a) psql "host=127.0.0.1 port=6432 user=agent-a dbname=traces sslmode=disable"

  --state-dir DIR       the demo's state directory, if it was started with one
  --expires-in SECONDS  a shorter (or longer, up to a day) lifetime than the 10 minute default
  --env                 instead of a token, print shell exports of the issuer, the client's
                        id and secret and the proxy address, for a program that gets its
                        own tokens: eval "$(npx tracegate token agent-a --env)"`;

// Single-quoted for sh: the only character to escape inside is the quote itself.
const shellQuote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

function fail(message: string): number {
  process.stderr.write(`tracegate token: ${message}\n`);
  return 1;
}

export async function runTokenCommand(args: string[], out: (line: string) => void): Promise<number> {
  let client: string | undefined;
  let stateDir: string;
  let expiresIn: number | undefined;
  let env = false;
  try {
    const { values, positionals } = parseArgs({
      args,
      options: {
        'state-dir': { type: 'string' },
        'expires-in': { type: 'string' },
        env: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      out(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new Error('give exactly one CLIENT');
    client = positionals[0];
    stateDir = resolve(values['state-dir'] ?? defaultDemoStateDir());
    env = values.env === true;
    if (values['expires-in'] !== undefined) {
      expiresIn = Number(values['expires-in']);
      if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 86_400) throw new Error('--expires-in must be whole seconds from 1 to 86400');
    }
  } catch (err) {
    process.stderr.write(`tracegate token: ${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }

  let state: DemoState | undefined;
  try {
    state = await readDemoState(stateDir);
  } catch (err) {
    if (err instanceof DemoStateError) return fail(err.message);
    throw err;
  }
  if (!state) return fail(`no tracegate demo is running (nothing in ${stateDir}); start one with \`npm start\` or \`tracegate demo\``);
  if (!isDemoAlive(state)) {
    return fail(`no tracegate demo is running: pid ${state.pid} exited without cleaning up (the next \`tracegate demo\` does that)`);
  }
  if (!state.ready || !state.tokenEndpoint) return fail('the demo is still starting; try again in a few seconds');
  const known = state.clients.find((c) => c.clientId === client);
  if (!known) return fail(`the demo has no client ${JSON.stringify(client)}; it has ${state.clients.map((c) => c.clientId).join(', ')}`);
  if (env) {
    const exports: [string, string][] = [
      ['OIDC_ISSUER', state.issuer ?? ''],
      ['OIDC_CLIENT_ID', known.clientId],
      ['OIDC_CLIENT_SECRET', known.clientSecret],
      ['TRACEGATE_HOST', state.proxy?.host ?? '127.0.0.1'],
      ['TRACEGATE_PORT', String(state.proxy?.port ?? 6432)],
      ['PGSSLMODE', 'disable'],
    ];
    out('# tracegate demo client (PGSSLMODE=disable: the demo accepts plaintext on loopback only)');
    for (const [name, value] of exports) out(`export ${name}=${shellQuote(value)}`);
    return 0;
  }
  try {
    out(
      await requestClientCredentialsToken({
        tokenEndpoint: state.tokenEndpoint,
        clientId: known.clientId,
        clientSecret: known.clientSecret,
        ...(expiresIn === undefined ? {} : { expiresIn }),
      }),
    );
    return 0;
  } catch (err) {
    // fetch reports "fetch failed" and hides the reason (ECONNREFUSED, ...) in `cause`.
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    const reason = typeof cause === 'string' ? cause : (err as Error).message;
    return fail(`cannot get a token from the demo issuer at ${state.issuer ?? state.tokenEndpoint}: ${reason}`);
  }
}
