import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// CI trusts `npm test`'s exit code. A dependency's exit hooks once forced it (see
// importEmbeddedPostgres in test/helpers/postgres.ts): a run with the integration
// project's Postgres in its global setup must exit 1 after a failing test and 0 after
// a passing one.
async function run(check: 'fails' | 'passes'): Promise<{ code: number | null; output: string }> {
  const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  const config = join(ROOT, 'test', 'helpers', 'exit-code-run', 'vitest.config.ts');
  const child = spawn(process.execPath, [vitest, 'run', '--config', config], { cwd: ROOT, env: { ...process.env, CI: 'true', RUN_CHECK: check } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output };
}

test('a test run exits 1 after a failing test and 0 after a passing one', { timeout: 180_000 }, async () => {
  const failed = await run('fails');
  expect(failed.output).toContain('fails on purpose');
  expect(failed.output).not.toContain('TypeError');
  expect(failed.code, failed.output.slice(-2000)).toBe(1);
  const passed = await run('passes');
  expect(passed.output).toContain('passes-on-purpose.check.ts');
  expect(passed.code, passed.output.slice(-2000)).toBe(0);
});
