// `sessions replay`: a recorded session printed as its client saw it. Every statement with
// its time, decision and timing, then what came back: psql-style tables of the masked
// values with "(N rows)" footers, command tags, notices and errors, and where the
// recording was truncated. Reads a SessionDetail only; it must not reach a store.
import { displayValue, isRightAligned } from './binary-values.js';
import { renderTable, type TableColumn } from './psql-table.js';
import type { RecordedResponseEvent, ResponseField, ResponseNoticeFields, SessionDetail, StatementView } from './store.js';

export function renderReplay(detail: SessionDetail): string[] {
  const s = detail.session;
  const out: string[] = [];
  out.push(`-- session ${s.sessionId}`);
  out.push(`-- subject ${s.subject} (groups: ${s.groups.join(', ') || 'none'}), mode ${s.mode}`);
  const tls = s.tls ? `${s.tls.protocol}${s.tls.cipher ? ` ${s.tls.cipher}` : ''}` : 'no TLS';
  out.push(`-- client ${s.clientAddress}, application ${s.applicationName ?? '(none)'}, ${tls}`);
  out.push(`-- token jti ${s.tokenJti ?? '(none)'}, sha256 ${s.tokenHash ?? '(none)'}`);
  out.push(`-- started ${iso(s.startedAt)}`);
  out.push('');
  detail.statements.forEach((st, i) => {
    out.push(...renderStatement(st, i + 1, s.startedAt));
    out.push('');
  });
  out.push(
    s.endedAt === null
      ? '-- session end not recorded (still open, or the proxy stopped abruptly)'
      : `-- ended ${iso(s.endedAt)} (+${seconds(s.endedAt - s.startedAt)}): ${s.endReason ?? 'unknown'}`,
  );
  return out;
}

function renderStatement(st: StatementView, n: number, sessionStart: number): string[] {
  const out: string[] = [];
  const decision =
    st.decision === 'deny' && !st.enforced ? 'deny (not enforced: monitor mode)' : st.decision;
  const facts = [
    `rule ${st.rule ?? '(none)'}`,
    st.traceId !== null ? `trace ${st.traceId}` : null,
    st.grantId !== null ? `grant ${st.grantId}` : null,
    st.approvalId !== null ? `approval ${st.approvalId}` : null,
    `decision ${st.decisionId}`,
  ].filter((f): f is string => f !== null);
  out.push(`-- [${n}] ${iso(st.at)} (+${seconds(st.at - sessionStart)}) ${decision}: ${st.reason}`);
  out.push(`--     ${facts.join(', ')}`);
  const c = st.completion;
  // A refusal (its SQLSTATE recorded with the decision) never ran, so has no completion.
  const refused = c === null && st.sqlstate !== null;
  out.push(
    c !== null
      ? `--     ${plural(c.rows, 'row')}, ${c.bytes} bytes, ${c.durationMs.toFixed(3)} ms`
      : refused
        ? '--     refused: not forwarded to the database'
        : '--     completion not recorded',
  );
  out.push(st.text);
  if (st.parameters.length > 0) {
    out.push(`--     parameters: ${st.parameters.map((p, i) => `$${i + 1} = ${p === null ? 'NULL' : quote(p)}`).join(', ')}`);
  }
  out.push(...renderResponse(st.response, c?.response ?? null));
  if (refused) {
    // Nothing came back from the database: the client got the error the gate raised,
    // which names the decision (errors.ts).
    out.push(`ERROR:  ${st.sqlstate}: ${st.reason} (decision ${st.decisionId})`);
  } else if (c?.error && !st.response.some((e) => e.type === 'ErrorResponse')) {
    // It ended without an answer of its own (skipped after an earlier error, or the
    // session went away while it ran): say why, as the audit knows it.
    out.push(`--     did not complete: ${c.error.sqlstate}: ${c.error.message}`);
  }
  return out;
}

interface OpenTable {
  readonly fields: readonly ResponseField[];
  readonly rows: string[][];
}

function renderResponse(
  events: readonly RecordedResponseEvent[],
  summary: { droppedRows: number; droppedMessages: number; droppedBytes: number } | null,
): string[] {
  const out: string[] = [];
  let table: OpenTable | null = null;
  const closeTable = (): void => {
    if (table === null) return;
    const columns: TableColumn[] = table.fields.map((f) => ({
      name: f.name,
      align: isRightAligned(f.typeOid) ? 'right' : 'left',
    }));
    out.push(...renderTable(columns, table.rows));
    table = null;
  };
  for (const e of events) {
    switch (e.type) {
      case 'RowDescription':
        closeTable();
        table = { fields: e.fields, rows: [] };
        break;
      case 'DataRow': {
        // A DataRow without a RowDescription in this execution: the portal was described
        // earlier; columns are shown unnamed and values as received.
        const current: OpenTable = table ?? { fields: e.values.map(() => anonymousField), rows: [] };
        table = current;
        current.rows.push(
          e.values.map((v, i) => {
            const f = current.fields[i] ?? anonymousField;
            return displayValue(v, f.typeOid, f.format);
          }),
        );
        break;
      }
      case 'CommandComplete':
        // psql shows a table's footer instead of its SELECT tag, and the tag otherwise.
        if (table !== null) closeTable();
        else out.push(e.tag);
        break;
      case 'EmptyQueryResponse':
        closeTable();
        break;
      case 'PortalSuspended':
        // The Execute asked for at most so many rows, and more remain in the portal.
        closeTable();
        out.push('(portal suspended: more rows remain)');
        break;
      case 'NoticeResponse':
        // Like psql: a notice shows as it arrives, before the result it came with.
        out.push(...renderNotice(e.fields, false));
        break;
      case 'ErrorResponse':
        closeTable();
        out.push(...renderNotice(e.fields, true));
        break;
      case 'Truncated': {
        closeTable();
        const dropped = summary
          ? `: ${plural(summary.droppedRows, 'more row')}, ${plural(summary.droppedMessages, 'other message')} (${summary.droppedBytes} bytes) not recorded`
          : '';
        out.push(`-- response recording truncated at ${e.capBytes} bytes${dropped}`);
        break;
      }
      default:
        return assertNever(e);
    }
  }
  closeTable();
  return out;
}

const anonymousField: ResponseField = {
  name: '?column?',
  tableOid: 0,
  columnNumber: 0,
  typeOid: 0,
  typeSize: -1,
  typeModifier: -1,
  // Unknown format: displayValue shows text as text and bytes as hex.
  format: 0,
};

function renderNotice(fields: ResponseNoticeFields, isError: boolean): string[] {
  const out = [`${fields.severity}:  ${isError ? `${fields.code}: ` : ''}${fields.message}`];
  if (fields['detail'] !== undefined) out.push(`DETAIL:  ${fields['detail']}`);
  if (fields['hint'] !== undefined) out.push(`HINT:  ${fields['hint']}`);
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function assertNever(value: never): never {
  throw new TypeError(`unexpected response event ${JSON.stringify(value)}`);
}
