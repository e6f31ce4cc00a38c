// `tracegate approvals list | approve ID | deny ID`: the approval queue from a terminal,
// over the admin API (the same rules as the web page: approver groups, no
// self-approval, distinct quorum, all enforced and recorded by the server).
import { parseArgs } from 'node:util';
import { AdminApiError, adminClientFrom, ADMIN_TOKEN_ENV, DEFAULT_ADMIN_URL, processIo, type CliIo } from '../admin/admin-client.js';
import type { ApprovalView } from '../approvals/approval.js';
import { terminalSafe } from './terminal-text.js';

export const APPROVALS_HELP = `Usage:
  tracegate approvals list [--json]
  tracegate approvals approve ID [--reason R]
  tracegate approvals deny ID [--reason R]

Lists the statements waiting for approval, or approves or denies one. An approval lets
that one statement execution run; a quorum rule needs that many distinct approvers. You
must be in the rule's approver groups and cannot act on your own request.

Options:
  --admin URL    the admin API (default ${DEFAULT_ADMIN_URL})
  --token T      access token; prefer the ${ADMIN_TOKEN_ENV} environment variable,
                 since a command line is visible to other users of the machine
  --reason R     recorded with the approval or denial (at most 500 characters)
  --json         list: print the API's JSON
  --help         this text`;

export async function runApprovalsCommand(args: string[], out: (line: string) => void, io: CliIo = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        admin: { type: 'string' },
        token: { type: 'string' },
        reason: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.err(`tracegate approvals: ${(err as Error).message}\n\n${APPROVALS_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(APPROVALS_HELP);
    return 0;
  }
  const [action, id, ...extra] = positionals;
  const usage = (problem: string): number => {
    io.err(`tracegate approvals: ${problem}\n\n${APPROVALS_HELP}`);
    return 2;
  };
  if (action === undefined) return usage('name an action: list, approve or deny');
  if (action !== 'list' && action !== 'approve' && action !== 'deny') return usage(`unknown action "${action}"`);
  if (action === 'list' ? id !== undefined : id === undefined || extra.length > 0) {
    return usage(action === 'list' ? 'list takes no request id' : `${action} takes exactly one request id`);
  }
  const client = adminClientFrom(values, io.env);
  if (typeof client === 'string') return usage(client);

  try {
    if (action === 'list') {
      const approvals = await client.listApprovals();
      if (values.json) out(JSON.stringify(approvals, null, 2));
      else printQueue(approvals, out);
      return 0;
    }
    const view = action === 'approve' ? await client.approve(id as string, values.reason) : await client.deny(id as string, values.reason);
    out(describeResult(view));
    return 0;
  } catch (err) {
    if (err instanceof AdminApiError) {
      io.err(`tracegate approvals ${action}: ${err.message}${err.status ? ` (HTTP ${err.status} ${err.code})` : ''}`);
      return 1;
    }
    throw err;
  }
}

function printQueue(approvals: readonly ApprovalView[], out: (line: string) => void): void {
  if (approvals.length === 0) {
    out('no approval requests are waiting');
    return;
  }
  // The statement, trace id and subjects are the requester's text: never written raw.
  const say = (line: string): void => out(terminalSafe(line));
  for (const a of approvals) {
    say(`${a.id}  waiting ${seconds(a.ageMs)}  ${a.requester.subject} -> trace ${a.traceId}  rule ${a.rule}  approvals ${a.approvals.length}/${a.quorum}`);
    if (a.reason !== null) say(`  why: ${a.reason}`);
    say(`  approvers: ${a.approverGroups.join(', ')}${a.approvals.length ? `; approved by ${a.approvals.map((v) => v.by).join(', ')}` : ''}`);
    // One line per request keeps the list scannable; the full text is in --json.
    const sql = a.statement.replace(/\s+/g, ' ').trim();
    say(`  sql: ${sql.length > 160 ? `${sql.slice(0, 160)}…` : sql}`);
  }
}

function describeResult(view: ApprovalView): string {
  return terminalSafe(resultText(view));
}

function resultText(view: ApprovalView): string {
  switch (view.state) {
    case 'approved':
      return `approved ${view.id}: the statement runs once, unless the policy was reloaded while it waited (approvers: ${view.approvals.map((v) => v.by).join(', ')})`;
    case 'denied':
      return `denied ${view.id}: the client gets 42501`;
    case 'pending':
      return `recorded your approval of ${view.id}: ${view.approvals.length} of ${view.quorum}; waiting for ${view.quorum - view.approvals.length} more distinct approver(s)`;
    default:
      return `${view.id} is ${view.state}`;
  }
}

function seconds(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}
