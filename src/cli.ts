// The `tracegate` command: parses the first word and hands the rest to the command's
// module. Each command returns its exit code; only `main` touches process state.
import { ConfigFileError } from './yaml-file.js';

const HELP = `tracegate: just-in-time, single-trace Postgres access for AI agents and services

Usage:
  tracegate serve --config FILE        run the proxy (and its admin server, if configured)
  tracegate demo                       embedded Postgres, dev OIDC issuer, proxy and admin page
  tracegate token CLIENT               print a demo access token (agent-a, agent-b, reviewer, admin)
  tracegate policy check FILE          validate a policy file (errors name file, line and key)
  tracegate policy explain --policy FILE --sub S --groups G[,G] [--param V]... "SQL"
                                       the decision for a statement, without a database
  tracegate sessions list|show|replay  recorded sessions (--store FILE or --config FILE)
  tracegate audit verify|export|prune  the tamper-evident audit trail
  tracegate approvals list|approve ID|deny ID [--reason R]
                                       the approval queue, over the admin API
  tracegate revoke --subject S | --session ID | --jti J [--until TIME] [--reason R]
                                       end matching sessions now and refuse new logins
  tracegate credential --trace T --reason R [--ttl S]
                                       a one-time credential to read one trace, once
  tracegate --help                     this text

Each command takes --help. Configuration reference: README.md; policy reference:
policies/README.md.`;

const SERVE_HELP = `Usage: tracegate serve --config FILE

Runs the proxy with the YAML configuration FILE (SPEC section 8). \${ENV} references in
the file are replaced from the environment; a missing variable, an unknown key or a bad
value stops the start with the file, line and key. SIGTERM drains and stops; SIGINT too.
SIGHUP reloads the policy file; a file that does not validate is rejected with its error
and the policy in force stays.`;

type Command = (args: string[], out: (line: string) => void) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => serve,
  policy: async () => (await import('./cli/policy.js')).runPolicyCommand,
  sessions: async () => (await import('./cli/sessions.js')).runSessionsCommand,
  audit: async () => (await import('./cli/audit.js')).runAuditCommand,
  approvals: async () => (await import('./cli/approvals.js')).runApprovalsCommand,
  revoke: async () => (await import('./cli/revoke.js')).runRevokeCommand,
  credential: async () => (await import('./cli/credential.js')).runCredentialCommand,
  demo: async () => (await import('./cli/demo.js')).runDemoCommand,
  token: async () => (await import('./cli/token.js')).runTokenCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(HELP);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`tracegate: unknown command "${name}"\n\n${HELP}\n`);
    return 2;
  }
  try {
    return await (await load())(rest, out);
  } catch (err) {
    if (err instanceof ConfigFileError) {
      process.stderr.write(`tracegate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function serve(args: string[], out: (line: string) => void): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    out(SERVE_HELP);
    return 0;
  }
  const i = args.indexOf('--config');
  const file = i >= 0 ? args[i + 1] : undefined;
  if (!file) {
    process.stderr.write(`tracegate serve: --config FILE is required\n\n${SERVE_HELP}\n`);
    return 2;
  }
  const { loadConfig } = await import('./config.js');
  const config = loadConfig(file);
  const { startProxy } = await import('./main.js');
  const proxy = await startProxy(config);
  // SIGHUP reloads the policy atomically: a file that does not validate is reported
  // and the policy in force stays.
  const reload = (): void => {
    try {
      const policy = proxy.reloadPolicy();
      process.stderr.write(`tracegate: policy reloaded from ${policy.file}\n`);
    } catch (err) {
      process.stderr.write(`tracegate: policy NOT reloaded, the previous one stays in force: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.off('SIGHUP', reload);
      void proxy.close().then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}
