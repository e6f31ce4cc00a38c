// `tracegate audit verify|export|prune`: checks the audit chain (exit 1 and the first
// broken link), exports records as JSON lines for a SIEM, and prunes old records while
// keeping the remaining chain verifiable. Only prune writes (its own prune record).
import { parseArgs } from 'node:util';
import { openStoreForCli, usage, type CliOut } from '../audit/cli-support.js';
import { parseDuration, parseTimeSpec } from '../audit/time-spec.js';

const USAGE = [
  'usage: tracegate audit verify (--store PATH | --config FILE)',
  '       tracegate audit export [--since TIME] (--store PATH | --config FILE)',
  '       tracegate audit prune --older-than DURATION (--store PATH | --config FILE)',
  'TIME is an ISO date or a duration before now (30d, 12h, 15m); DURATION is like 30d.',
];

export async function runAuditCommand(args: string[], out: CliOut): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        store: { type: 'string' },
        config: { type: 'string' },
        since: { type: 'string' },
        'older-than': { type: 'string' },
      },
    });
  } catch (err) {
    return usage(out, USAGE, (err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (rest.length > 0) return usage(out, USAGE, `unexpected argument ${rest[0]}`);
  const now = Date.now();

  switch (command) {
    case 'verify': {
      const store = await openStoreForCli({ store: values.store, config: values.config }, out, USAGE);
      if (store === null) return 2;
      try {
        const report = await store.verify();
        if (report.ok) {
          out(
            `audit chain ok: ${report.checked} records from seq ${report.from.seq + 1} to ${report.head.seq}; ` +
              `head hash ${report.head.hash}`,
          );
          return 0;
        }
        const b = report.broken;
        out(`audit chain BROKEN at seq ${b.seq} (${b.kind}): ${describeProblem(b.problem)}`);
        out(`  expected ${b.expected}`);
        out(`  stored   ${b.stored}`);
        out(`  ${report.checked} records before it verified (from seq ${report.from.seq + 1})`);
        return 1;
      } finally {
        await store.close();
      }
    }
    case 'export': {
      let since = 0;
      try {
        if (values.since !== undefined) since = parseTimeSpec(values.since, now);
      } catch (err) {
        return usage(out, USAGE, (err as Error).message);
      }
      const store = await openStoreForCli({ store: values.store, config: values.config }, out, USAGE);
      if (store === null) return 2;
      try {
        for await (const line of store.exportSince(since)) out(JSON.stringify(line));
        return 0;
      } finally {
        await store.close();
      }
    }
    case 'prune': {
      const olderThan = values['older-than'];
      const duration = olderThan === undefined ? null : parseDuration(olderThan);
      if (duration === null) return usage(out, USAGE, 'prune needs --older-than DURATION (e.g. 30d)');
      const store = await openStoreForCli({ store: values.store, config: values.config }, out, USAGE);
      if (store === null) return 2;
      try {
        const report = await store.prune(now - duration);
        out(
          report.checkpoint === null
            ? 'nothing to prune'
            : `pruned ${report.pruned} records; the chain continues from checkpoint seq ${report.checkpoint.seq} (${report.checkpoint.hash})`,
        );
        return 0;
      } finally {
        await store.close();
      }
    }
    default:
      return usage(out, USAGE, command === undefined ? null : `unknown command ${command}`);
  }
}

function describeProblem(problem: 'hash' | 'sequence' | 'checkpoint'): string {
  switch (problem) {
    case 'hash':
      return 'hash mismatch (the record, or the link to the one before it, was altered)';
    case 'sequence':
      return 'sequence gap (a record before it was removed or one was inserted)';
    case 'checkpoint':
      return 'the prune checkpoint lies beyond what the latest prune announced (records removed)';
  }
}
