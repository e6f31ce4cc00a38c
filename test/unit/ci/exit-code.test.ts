import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// CI trusts `npm test`'s exit code. A dependency's exit hook once forced it to 0 after
// failures (test/helpers/postgres.ts says which): a run with a failing test and the
// integration project's Postgres in its global setup must exit 1.
test('a test run with a failing test exits 1', { timeout: 180_000 }, async () => {
  const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  const config = join(ROOT, 'test', 'helpers', 'failing-run', 'vitest.config.ts');
  const child = spawn(process.execPath, [vitest, 'run', '--config', config], { cwd: ROOT, env: { ...process.env, CI: 'true' } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(output).toContain('fails on purpose');
  expect(code, output.slice(-2000)).toBe(1);
});
