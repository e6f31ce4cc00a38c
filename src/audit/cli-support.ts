// What the audit and sessions CLI commands share: the output callback, usage errors, and
// opening the store named by --store (an existing file only: a typo must not create an
// empty store that then "verifies"). Exit codes: 0 ok, 1 a finding (broken chain,
// unknown session), 2 usage or an unusable store.
import { existsSync } from 'node:fs';
import { openSqliteStore } from './sqlite-store.js';
import type { AuditStore } from './store.js';

export type CliOut = (line: string) => void;

export function usage(out: CliOut, lines: readonly string[], problem: string | null): number {
  if (problem !== null) out(`error: ${problem}`);
  for (const line of lines) out(line);
  return 2;
}

export async function openStoreForCli(
  path: string | undefined,
  out: CliOut,
  usageLines: readonly string[],
): Promise<AuditStore | null> {
  if (path === undefined) {
    usage(out, usageLines, 'missing --store PATH (the audit SQLite file)');
    return null;
  }
  if (!existsSync(path)) {
    out(`error: no audit store at ${path}`);
    return null;
  }
  try {
    return await openSqliteStore({ path, mustExist: true, busyTimeoutMs: 5000 });
  } catch (err) {
    out(`error: cannot open audit store ${path}: ${(err as Error).message}`);
    return null;
  }
}

export function isoOrDash(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}
