// What the audit and sessions CLI commands share: the output callback, usage errors, and
// opening the store named by --store, or by the proxy's own --config (so an operator
// need not know where the file went), an existing file only: a typo must not create an
// empty store that then "verifies". Exit codes: 0 ok, 1 a finding (broken chain, unknown
// session), 2 usage or an unusable store.
import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { openPgAuditStoreForCli } from '../store-pg/pg-shared-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { AuditStore } from './store.js';

export type CliOut = (line: string) => void;

export function usage(out: CliOut, lines: readonly string[], problem: string | null): number {
  if (problem !== null) out(`error: ${problem}`);
  for (const line of lines) out(line);
  return 2;
}

/** Where the store is: `--store PATH`, or the `store:` of the configuration `--config FILE`. */
export interface StoreLocation {
  readonly store: string | undefined;
  readonly config: string | undefined;
}

export async function openStoreForCli(
  where: StoreLocation,
  out: CliOut,
  usageLines: readonly string[],
): Promise<AuditStore | null> {
  if (where.store !== undefined && where.config !== undefined) {
    usage(out, usageLines, 'give --store PATH or --config FILE, not both');
    return null;
  }
  let path = where.store;
  if (where.config !== undefined) {
    try {
      const { store } = loadConfig(where.config);
      if ('postgres' in store) {
        // Several instances share one Postgres store: the same chain, whichever wrote it.
        try {
          return await openPgAuditStoreForCli(store.postgres);
        } catch (err) {
          out(`error: cannot open the Postgres audit store (schema ${store.postgres.schema}): ${(err as Error).message}`);
          return null;
        }
      }
      path = store.sqlite.path;
    } catch (err) {
      out(`error: ${(err as Error).message}`);
      return null;
    }
  }
  if (path === undefined) {
    usage(out, usageLines, 'missing --store PATH (the audit SQLite file) or --config FILE (the proxy configuration)');
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
