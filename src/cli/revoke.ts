// `tracegate revoke --subject S | --session ID | --jti J`: ends matching sessions at
// once (FATAL 57P01) and refuses new logins until --until, over the admin API.
import { parseArgs } from 'node:util';
import { AdminApiError, adminClientFrom, ADMIN_TOKEN_ENV, DEFAULT_ADMIN_URL, processIo, type CliIo } from '../admin/admin-client.js';

export const REVOKE_HELP = `Usage:
  tracegate revoke --subject S | --session ID | --jti J [--until TIME] [--reason R]

Revokes access at once: the matching open sessions end with FATAL 57P01 (their running
statements are cancelled), and new logins by that subject or token are refused until
TIME. Needs a token in the admin groups.

Options:
  --subject S    every session and login of this subject
  --session ID   one live session
  --jti J        the token with this jti
  --until TIME   how long logins stay refused: a duration (2h, 1d), an ISO 8601 time
                 or epoch milliseconds (default: 24h for a subject or session, a
                 year for a jti, so the token stays refused for as long as it lives)
  --reason R     recorded with the revocation (default "revoked from the CLI")
  --admin URL    the admin API (default ${DEFAULT_ADMIN_URL})
  --token T      access token; prefer the ${ADMIN_TOKEN_ENV} environment variable
  --help         this text`;

export async function runRevokeCommand(args: string[], out: (line: string) => void, io: CliIo = processIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        subject: { type: 'string' },
        session: { type: 'string' },
        jti: { type: 'string' },
        until: { type: 'string' },
        reason: { type: 'string' },
        admin: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.err(`tracegate revoke: ${(err as Error).message}\n\n${REVOKE_HELP}`);
    return 2;
  }
  if (values.help) {
    out(REVOKE_HELP);
    return 0;
  }
  const usage = (problem: string): number => {
    io.err(`tracegate revoke: ${problem}\n\n${REVOKE_HELP}`);
    return 2;
  };
  const targets = [values.subject, values.session, values.jti].filter((v) => v !== undefined);
  if (targets.length !== 1) return usage('name exactly one of --subject, --session and --jti');
  const client = adminClientFrom(values, io.env);
  if (typeof client === 'string') return usage(client);

  try {
    const { revocation, sessionsEnded } = await client.revoke({
      ...(values.subject === undefined ? {} : { subject: values.subject }),
      ...(values.session === undefined ? {} : { session: values.session }),
      ...(values.jti === undefined ? {} : { jti: values.jti }),
      ...(values.until === undefined ? {} : { until: values.until }),
      reason: values.reason ?? 'revoked from the CLI',
    });
    const { target } = revocation;
    const what = target.kind === 'subject' ? `subject ${target.subject}` : target.kind === 'session' ? `session ${target.sessionId}` : `token jti ${target.jti}`;
    out(`revoked ${what} until ${new Date(revocation.until).toISOString()} (revocation ${revocation.id}); ended ${sessionsEnded} session(s)`);
    return 0;
  } catch (err) {
    if (err instanceof AdminApiError) {
      io.err(`tracegate revoke: ${err.message}${err.status ? ` (HTTP ${err.status} ${err.code})` : ''}`);
      return 1;
    }
    throw err;
  }
}
