// `tracegate approvals list` prints what a waiting request holds (the statement, the
// trace id, the requester) to the approver's terminal, and the statement is the agent's
// own text. A statement may carry terminal control sequences inside a comment: ESC is
// not whitespace, so the one-line preview kept it, and the approver's terminal ran it.
// An agent waiting for approval can then move the cursor up and rewrite the request's
// header line (another trace, "low risk"), so an approver approves a read other than the
// one they see. The list must show such characters, never send them to the terminal.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { CliIo } from '../../../src/admin/admin-client.js';
import { runApprovalsCommand } from '../../../src/cli/approvals.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { api } from './harness.js';

let proxy: TestProxy;
let reviewer: string;
beforeAll(async () => {
  proxy = await startTestProxy({ admin: true });
  reviewer = await getToken('reviewer');
});
afterAll(async () => {
  await proxy?.close();
});

const ESC = '\u001b';

/**
 * What a VT100-style terminal shows after `lines` are printed: printable characters
 * overwrite the cell under the cursor; ESC[nA / ESC[nB move up / down, ESC[nG moves to a
 * column, ESC[2K erases the line. Enough to see what an approver would see.
 */
function screen(lines: readonly string[]): string[] {
  const rows: string[][] = [];
  let row = 0;
  let col = 0;
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      const m = /^\u001b\[(\d*)([ABGK])/.exec(line.slice(i));
      if (m) {
        const n = m[1] === '' ? 1 : Number(m[1]);
        if (m[2] === 'A') row = Math.max(0, row - n);
        else if (m[2] === 'B') row += n;
        else if (m[2] === 'G') col = n - 1;
        else rows[row] = [];
        i += m[0].length - 1;
        continue;
      }
      (rows[row] ??= [])[col++] = line[i] as string;
    }
    row++;
    col = 0;
  }
  return Array.from({ length: rows.length }, (_, r) => Array.from(rows[r] ?? [], (c) => c ?? ' ').join(''));
}

test('approvals list does not send a statement’s terminal control sequences to the approver', async () => {
  const client = new pg.Client(proxy.clientConfig(await getToken('agent-a')));
  client.on('error', () => undefined);
  await client.connect();
  const requestId = new Promise<string>((resolve) => {
    client.once('notice', (n) => {
      const m = /request ([0-9a-f-]{36})/.exec(n.message ?? '');
      if (m?.[1]) resolve(m[1]);
    });
  });
  const high = WELL_KNOWN_TRACES.agentAHigh;
  // Inside a comment: three lines up, erase, rewrite the header line, back down.
  const forged = `${ESC}[3A${ESC}[2K${ESC}[1Gforged  agent-a -> trace tr_000001 (low risk)${ESC}[3B`;
  const sql = `SELECT trace_id, risk, summary FROM traces WHERE trace_id = '${high}' /*${forged}*/`;
  const read = client.query(sql).catch((e: unknown) => e as Error);
  const id = await requestId;

  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { err: (l) => err.push(l), env: { TRACEGATE_ADMIN_TOKEN: reviewer } };
  const code = await runApprovalsCommand(['--admin', proxy.adminUrl as string, 'list'], (l) => out.push(l), io);
  expect(code).toBe(0);

  // What the approver's terminal shows: the header line of the request they are asked to
  // approve still names its id and the trace that will be read.
  const shown = screen(out).join('\n');
  expect(shown).toContain(`${id}  waiting`);
  expect(shown).toContain(`agent-a -> trace ${high}`);
  expect(shown).not.toMatch(/^forged/m);
  // Nothing that a terminal interprets reaches it: C0 controls, DEL and C1 controls.
  for (const line of out) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);

  const denied = await api(proxy.adminUrl as string, reviewer, 'POST', `/api/approvals/${id}/deny`, { reason: 'test over' });
  expect(denied.status).toBe(200);
  expect(await read).toMatchObject({ code: '42501' });
  await client.end();
}, 60_000);
