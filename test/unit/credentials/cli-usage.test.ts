// `tracegate credential` usage handling, before any network: --help, and each missing or
// malformed argument is exit 2 with the usage text on stderr.
import { describe, expect, test } from 'vitest';
import type { CliIo } from '../../../src/admin/admin-client.js';
import { runCredentialCommand } from '../../../src/cli/credential.js';

async function run(args: string[], env: Record<string, string> = { TRACEGATE_TOKEN: 't' }) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { err: (l) => err.push(l), env };
  const code = await runCredentialCommand(args, (l) => out.push(l), io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('tracegate credential usage', () => {
  test('--help prints the usage and exits 0', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('tracegate credential --trace T --reason R');
    expect(out).toContain('TRACEGATE_TOKEN');
  });

  test.each([
    [['--reason', 'r'], '--trace is required'],
    [['--trace', 't'], '--reason is required'],
    [['--trace', 't', '--reason', '  '], '--reason is required'],
    [['--trace', 't', '--reason', 'r', '--ttl', '1.5'], '--ttl takes a whole number of seconds'],
    [['--trace', 't', '--reason', 'r', '--ttl', '0'], '--ttl takes a whole number of seconds'],
    [['--trace', 't', '--reason', 'r', '--admin', 'ftp://x'], '--admin must be an http(s) URL'],
    [['--trace', 't', '--reason', 'r', '--bogus'], 'Unknown option'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const { code, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toContain(message);
    expect(err).toContain('Usage:');
  });

  test('no token anywhere is a usage error naming the variable', async () => {
    const { code, err } = await run(['--trace', 't', '--reason', 'r'], {});
    expect(code).toBe(2);
    expect(err).toContain('set TRACEGATE_TOKEN');
  });
});
