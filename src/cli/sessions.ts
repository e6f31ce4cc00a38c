// `tracegate sessions list|show|replay`: reads recorded sessions from the audit store.
// list filters by subject, trace and start time; show prints a session's statements,
// decisions, grants and approvals; replay prints it as the client saw it (replay.ts).
// Read-only in effect: it opens the store file but records nothing.
import { parseArgs } from 'node:util';
import { isoOrDash, openStoreForCli, usage, type CliOut } from '../audit/cli-support.js';
import { renderTable } from '../audit/psql-table.js';
import { renderReplay } from '../audit/replay.js';
import { terminalSafe } from './terminal-text.js';
import type { AuditStore, SessionDetail } from '../audit/store.js';
import { parseTimeSpec } from '../audit/time-spec.js';

const USAGE = [
  'usage: tracegate sessions list [--subject S] [--trace T] [--since TIME] [--limit N] (--store PATH | --config FILE)',
  '       tracegate sessions show ID (--store PATH | --config FILE)',
  '       tracegate sessions replay ID (--store PATH | --config FILE)',
  'TIME is an ISO date or a duration before now (30d, 12h, 15m).',
];

export async function runSessionsCommand(args: string[], out: CliOut): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        store: { type: 'string' },
        config: { type: 'string' },
        subject: { type: 'string' },
        trace: { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
      },
    });
  } catch (err) {
    return usage(out, USAGE, (err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, id, ...rest] = positionals;
  if (rest.length > 0) return usage(out, USAGE, `unexpected argument ${rest[0]}`);
  if (command === 'list' && id !== undefined) return usage(out, USAGE, `unexpected argument ${id}`);
  if ((command === 'show' || command === 'replay') && id === undefined) return usage(out, USAGE, `sessions ${command} needs a session id`);
  if (command !== 'list' && command !== 'show' && command !== 'replay') return usage(out, USAGE, command ? `unknown command ${command}` : null);

  let since: number | undefined;
  let limit: number | undefined;
  try {
    if (values.since !== undefined) since = parseTimeSpec(values.since, Date.now());
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`invalid --limit ${values.limit}`);
    }
  } catch (err) {
    return usage(out, USAGE, (err as Error).message);
  }

  const store = await openStoreForCli({ store: values.store, config: values.config }, out, USAGE);
  if (store === null) return 2;
  try {
    if (command === 'list') {
      return await list(store, out, { subject: values.subject, traceId: values.trace, since, limit });
    }
    const detail = await store.getSession(id as string);
    if (detail === null) {
      out(`no session ${id} in the audit store`);
      return 1;
    }
    // Recorded text (statements, results, application_name) is the clients' and the
    // traces': never written to the terminal raw.
    for (const line of command === 'show' ? renderShow(detail) : renderReplay(detail)) out(terminalSafe(line, true));
    return 0;
  } finally {
    await store.close();
  }
}

async function list(
  store: AuditStore,
  out: CliOut,
  query: { subject: string | undefined; traceId: string | undefined; since: number | undefined; limit: number | undefined },
): Promise<number> {
  const sessions = await store.listSessions({
    ...(query.subject !== undefined ? { subject: query.subject } : {}),
    ...(query.traceId !== undefined ? { traceId: query.traceId } : {}),
    ...(query.since !== undefined ? { since: query.since } : {}),
    ...(query.limit !== undefined ? { limit: query.limit } : {}),
  });
  const rows = sessions.map((s) => [
    s.sessionId,
    s.subject,
    isoOrDash(s.startedAt),
    s.endedAt === null ? '(open)' : `${isoOrDash(s.endedAt)} ${s.endReason ?? ''}`.trim(),
    String(s.statements),
    String(s.denied),
    s.traceIds.join(','),
    s.clientAddress,
    s.applicationName ?? '',
  ]);
  const columns = ['session', 'subject', 'started', 'ended', 'statements', 'denied', 'traces', 'client', 'application'];
  for (const line of renderTable(
    columns.map((name) => ({ name, align: name === 'statements' || name === 'denied' ? 'right' : 'left' })),
    rows,
  )) {
    out(terminalSafe(line));
  }
  return 0;
}

function renderShow(detail: SessionDetail): string[] {
  const s = detail.session;
  const out = [
    `session      ${s.sessionId}`,
    `subject      ${s.subject}`,
    `groups       ${s.groups.join(', ')}`,
    `mode         ${s.mode}`,
    `client       ${s.clientAddress}`,
    `application  ${s.applicationName ?? ''}`,
    `tls          ${s.tls ? `${s.tls.protocol} ${s.tls.cipher ?? ''}`.trim() : 'none'}`,
    `token jti    ${s.tokenJti ?? ''}`,
    `token sha256 ${s.tokenHash ?? ''}`,
    `started      ${isoOrDash(s.startedAt)}`,
    `ended        ${s.endedAt === null ? '(open)' : `${isoOrDash(s.endedAt)} (${s.endReason ?? 'unknown'})`}`,
    '',
  ];
  out.push(
    ...renderTable(
      ['#', 'at', 'decision', 'rule', 'trace', 'grant', 'rows', 'ms', 'error', 'statement'].map((name) => ({
        name,
        align: name === '#' || name === 'rows' || name === 'ms' ? 'right' : 'left',
      })),
      detail.statements.map((st, i) => [
        String(i + 1),
        isoOrDash(st.at),
        st.decision === 'deny' && !st.enforced ? 'deny (monitor)' : st.decision,
        st.rule ?? '',
        st.traceId ?? '',
        st.grantId ?? '',
        st.completion ? String(st.completion.rows) : '',
        st.completion ? st.completion.durationMs.toFixed(3) : '',
        st.completion?.error?.sqlstate ?? st.sqlstate ?? '',
        oneLine(st.text, 60),
      ]),
    ),
  );
  if (detail.grants.length > 0) {
    out.push('');
    out.push(
      ...renderTable(
        ['grant', 'trace', 'rule', 'issued', 'expires', 'revoked', 'reason'].map((name) => ({ name, align: 'left' })),
        detail.grants.map((g) => [
          g.grantId,
          g.traceId,
          g.rule,
          isoOrDash(g.issuedAt),
          isoOrDash(g.expiresAt),
          g.revokedAt === null ? '' : isoOrDash(g.revokedAt),
          g.revokeReason ?? '',
        ]),
      ),
    );
  }
  if (detail.approvals.length > 0) {
    out.push('');
    out.push(
      ...renderTable(
        ['approval', 'at', 'step', 'by'].map((name) => ({ name, align: 'left' })),
        detail.approvals.map((a) => [
          a.approvalId,
          isoOrDash(a.at),
          a.step.type,
          a.step.type === 'approved' || a.step.type === 'denied' ? a.step.by : '',
        ]),
      ),
    );
  }
  return out;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}
