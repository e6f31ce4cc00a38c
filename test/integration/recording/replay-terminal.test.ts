// `tracegate sessions show|replay|list` print what a session recorded to an auditor's
// terminal: the statement text, the rows as the client saw them, the application_name.
// All of it is the client's text (or the trace's), and a terminal runs the control
// sequences in what it is given. They are printed as escapes; a statement's own line
// breaks stay.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { endedSession, sessionIdByApplication, sessionsCli, STORE_FILE } from './harness.js';

const ESC = '\u001b';
const MINE = WELL_KNOWN_TRACES.agentALow;
// A cursor-up and erase-line in a comment, a carriage return in a selected constant.
const STATEMENT = `SELECT trace_id,\n  'ok\r${ESC}[2K' AS x FROM traces /* ${ESC}[3A${ESC}[2Kforged */ WHERE trace_id = '${MINE}'`;
const APPLICATION = `replay-${ESC}[31mterm`;

let proxy: TestProxy;
let storePath: string;
let sessionId: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  storePath = join(proxy.dir, STORE_FILE);
  const client = await proxy.connect(await getToken('agent-a'), { application_name: APPLICATION });
  await client.query(STATEMENT);
  await client.end();
  sessionId = await sessionIdByApplication(storePath, APPLICATION);
  await endedSession(storePath, sessionId);
});
afterAll(async () => proxy?.close());

test.each(['replay', 'show'])('sessions %s prints no terminal control characters, and keeps the statement\'s lines', async (command) => {
  const run = await sessionsCli(storePath, command, sessionId);
  expect(run.code).toBe(0);
  const text = run.lines.join('\n');
  expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  if (command === 'replay') {
    expect(text).toContain('\\u001b[3A\\u001b[2Kforged');
    expect(text).toContain(`SELECT trace_id,\n  'ok\\u000d\\u001b[2K' AS x`);
  }
});

test('sessions list prints the application_name with its escape shown', async () => {
  const run = await sessionsCli(storePath, 'list');
  expect(run.code).toBe(0);
  const text = run.lines.join('\n');
  expect(text).not.toContain(ESC);
  expect(text).toContain('replay-\\u001b[31mterm');
});
