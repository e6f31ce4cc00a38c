// The admin CLI commands' usage handling, before any network: --help, missing token,
// wrong arguments (exit 2 with the usage text on stderr).
import { describe, expect, test } from 'vitest';
import type { CliIo } from '../../../src/admin/admin-client.js';
import { runApprovalsCommand } from '../../../src/cli/approvals.js';
import { runRevokeCommand } from '../../../src/cli/revoke.js';

async function run(command: typeof runApprovalsCommand, args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { err: (l) => err.push(l), env };
  const code = await command(args, (l) => out.push(l), io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('tracegate approvals usage', () => {
  test('--help prints the usage and exits 0', async () => {
    const { code, out } = await run(runApprovalsCommand, ['--help']);
    expect(code).toBe(0);
    expect(out).toContain('tracegate approvals approve ID [--reason R]');
    expect(out).toContain('TRACEGATE_ADMIN_TOKEN');
  });

  test.each([
    [[], 'name an action'],
    [['frobnicate'], 'unknown action'],
    [['approve'], 'exactly one request id'],
    [['deny', 'a', 'b'], 'exactly one request id'],
    [['list', 'x'], 'list takes no request id'],
    [['list', '--bogus'], 'Unknown option'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const { code, err } = await run(runApprovalsCommand, args, { TRACEGATE_ADMIN_TOKEN: 't' });
    expect(code).toBe(2);
    expect(err).toContain(message);
    expect(err).toContain('Usage:');
  });

  test('no token anywhere is a usage error naming the variable', async () => {
    const { code, err } = await run(runApprovalsCommand, ['list']);
    expect(code).toBe(2);
    expect(err).toContain('set TRACEGATE_ADMIN_TOKEN');
  });

  test('a non-http admin URL is refused', async () => {
    const { code, err } = await run(runApprovalsCommand, ['list', '--admin', 'file:///etc/passwd'], { TRACEGATE_ADMIN_TOKEN: 't' });
    expect(code).toBe(2);
    expect(err).toContain('--admin must be an http(s) URL');
  });
});

describe('tracegate revoke usage', () => {
  test('--help', async () => {
    const { code, out } = await run(runRevokeCommand, ['--help']);
    expect(code).toBe(0);
    expect(out).toContain('--subject S | --session ID | --jti J');
  });

  test.each([[[]], [['--subject', 'a', '--jti', 'b']], [['stray']]])('%j is a usage error', async (args) => {
    const { code, err } = await run(runRevokeCommand, args, { TRACEGATE_ADMIN_TOKEN: 't' });
    expect(code).toBe(2);
    expect(err).toContain('Usage:');
  });
});
