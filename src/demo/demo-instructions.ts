// What `tracegate demo` prints once everything runs: where each part listens, and the
// copy-paste commands a newcomer needs (a token, a psql line, three statements that show
// a masked single-trace read, a refused bulk read and a read that waits for approval).
// The integration test runs these very lines, so they must stay literally runnable.
import { WELL_KNOWN_TRACES } from './generate.js';

export interface DemoInstructionsInput {
  readonly proxy: { readonly host: string; readonly port: number };
  readonly issuer: string;
  readonly adminUrl: string;
  /** How the user runs tracegate, e.g. `npx tracegate`. */
  readonly command: string;
  /** Extra arguments `tracegate token` needs to find this demo (a non-default state dir). */
  readonly tokenArgs: string;
  /** Whether the admin page is where the approvals CLI looks by default. */
  readonly defaultAdminUrl: boolean;
  readonly configFile: string;
  readonly policyFile: string;
  readonly logFile: string;
  readonly tokenTtlSeconds: number;
}

export const DEMO_TRY_STATEMENTS = {
  singleTrace: `SELECT trace_id, risk, user_email, summary FROM traces WHERE trace_id = '${WELL_KNOWN_TRACES.agentALow}';`,
  singleTraceSteps: `SELECT step, role, content FROM trace_steps WHERE trace_id = '${WELL_KNOWN_TRACES.agentALow}' ORDER BY step;`,
  bulkRead: `SELECT trace_id, summary FROM traces WHERE agent_id = 'agent-a';`,
  highRisk: `SELECT trace_id, risk, summary FROM traces WHERE trace_id = '${WELL_KNOWN_TRACES.agentAHigh}';`,
  otherAgent: `SELECT trace_id, summary FROM traces WHERE trace_id = '${WELL_KNOWN_TRACES.agentBLow}';`,
  customers: 'SELECT email, api_key FROM customers;',
} as const;

export function demoInstructions(input: DemoInstructionsInput): string[] {
  const token = (client: string): string => `${input.command} token ${client}${input.tokenArgs}`;
  const conninfo = `host=${input.proxy.host} port=${input.proxy.port} user=agent-a dbname=traces sslmode=disable`;
  const adminArg = input.defaultAdminUrl ? '' : ` --admin ${input.adminUrl}`;
  return [
    'tracegate demo is ready. Press Ctrl-C to stop it and remove everything it created.',
    '',
    `  proxy   ${input.proxy.host}:${input.proxy.port}  (plaintext is accepted because this is loopback and the demo config allows it; elsewhere tracegate requires TLS)`,
    `  admin   ${input.adminUrl}  (approvals, live sessions and grants, revoke, replay; sign in with a token)`,
    `  issuer  ${input.issuer}  (development OIDC issuer: agent-a and agent-b in ai-agents, reviewer in security, admin in tracegate-admins)`,
    `  config  ${input.configFile}`,
    `  policy  ${input.policyFile}`,
    `  logs    ${input.logFile}  (JSON lines)`,
    '',
    `Get an access token for agent-a (valid ${Math.round(input.tokenTtlSeconds / 60)} minutes), e.g. in another terminal:`,
    '',
    `  ${token('agent-a')}`,
    '',
    'Connect as agent-a with psql, the token as the password:',
    '',
    `  PGPASSWORD=$(${token('agent-a')}) psql "${conninfo}"`,
    '',
    'Then try, at the psql prompt (\\set VERBOSITY verbose shows the SQLSTATE):',
    '',
    '  1. Read one of agent-a\'s traces and its steps: emails, cards, keys and tokens come back masked.',
    `     ${DEMO_TRY_STATEMENTS.singleTrace}`,
    `     ${DEMO_TRY_STATEMENTS.singleTraceSteps}`,
    '  2. Read many traces at once: refused with 42501, and nothing reaches Postgres.',
    `     ${DEMO_TRY_STATEMENTS.bulkRead}`,
    '  3. Read a high-risk trace: the statement waits, and a NOTICE names the approval request.',
    `     ${DEMO_TRY_STATEMENTS.highRisk}`,
    `     Approve it as reviewer on ${input.adminUrl} (sign in with the output of \`${token('reviewer')}\`),`,
    '     or from another terminal:',
    `     TRACEGATE_ADMIN_TOKEN=$(${token('reviewer')}) ${input.command} approvals approve REQUEST_ID${adminArg}`,
    '',
    'Also refused: another agent\'s trace (exactly as if it did not exist) and any non-trace table:',
    `     ${DEMO_TRY_STATEMENTS.otherAgent}`,
    `     ${DEMO_TRY_STATEMENTS.customers}`,
  ];
}
