// A decision whose promise resolved is on disk even if the proxy is SIGKILLed right
// after (synchronous=NORMAL in WAL: the commit is in the OS's hands).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, test } from 'vitest';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import { buildAuditForChild } from './child-build.js';
import { decision, grant, sessionStart, tempDir } from './helpers.js';

test('a recorded decision survives SIGKILL of the recording process', async () => {
  using build = buildAuditForChild();
  using dir = tempDir();
  const path = dir.file('audit.db');
  const script = build.script(
    'record-then-wait.mjs',
    `import { openSqliteStore } from './audit/sqlite-store.js';
const [path, fixtures] = process.argv.slice(2);
const { start, decision, grant } = JSON.parse(fixtures);
// A long flush interval: only the durable path can have written the decision.
const store = await openSqliteStore({ path, flushIntervalMs: 3_600_000 });
await store.recordSessionStart(start);
await store.recordDecision(decision, grant);
process.stdout.write('recorded\\n');
setInterval(() => {}, 1000);
`,
  );
  const fixtures = JSON.stringify({ start: sessionStart(), decision: decision(), grant: grant() });
  const child = spawn(process.execPath, [script, path, fixtures], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('recorded')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited early with ${String(code)}: ${output}`)));
  });
  child.kill('SIGKILL');
  const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
  expect(signal).toBe('SIGKILL');

  const store = await openSqliteStore({ path, mustExist: true });
  const detail = await store.getSession('s-1');
  expect(detail?.statements.map((s) => [s.statementId, s.decision, s.grantId])).toEqual([['st-1', 'allow', 'g-1']]);
  expect(detail?.grants.map((g) => g.grantId)).toEqual(['g-1']);
  expect(await store.verify()).toMatchObject({ ok: true, checked: 3 });
  await store.close();
});
