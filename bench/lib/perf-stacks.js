// Attributes `perf record -g` samples of the proxy (node run with --perf-basic-prof) to
// tracegate's modules. Unlike the V8 profile, perf counts on-CPU time only (no time
// slices lost to other processes) and sees the kernel and native work a call causes:
// a socket write's TCP path, SQLite's WAL writes, GC. Each main-thread sample goes to
// the innermost tracegate (or library) frame on its stack; samples of V8's helper
// threads (V8's GC and compiler, libuv's pool: PBKDF2 for SCRAM) are reported apart.
//   node bench/lib/perf-stacks.js perf.data [main-tid]
import { execFileSync } from 'node:child_process';

const MODULES = [
  ['protocol codec', /\/dist\/protocol\//],
  ['session relay', /\/dist\/src\/(session|server)\//],
  ['gate (policy-gate, request)', /\/dist\/src\/gate\//],
  ['policy/sql/grants', /\/dist\/src\/(policy|sql|grants|approvals|revocation)\/|libpg-query/],
  ['audit store/SQLite', /\/dist\/src\/audit\/|better-sqlite3|better_sqlite3|^sqlite3|^wal|^pcache|^pager/],
  ['masking', /\/dist\/src\/masking\//],
  ['metrics (prom-client)', /prom-client|\/dist\/src\/admin\/metrics/],
  ['logging (pino)', /node_modules\/(pino|sonic-boom)|\/dist\/src\/log\.js/],
  ['auth/login', /node_modules\/jose|\/dist\/src\/auth\//],
  ['upstream login + lookups (pg)', /node_modules\/(pg|pg-pool|pg-protocol)\/|\/dist\/src\/upstream\//],
  ['tracegate other', /\/dist\/src\//],
];

function leafKind(sym) {
  if (/^\[k\]|^(entry_|do_syscall|__x64|ksys_|tcp_|ip_|__schedule|finish_task)/.test(sym) || sym.startsWith('0xffff')) return 'kernel';
  if (sym.startsWith('JS:')) return 'JS';
  if (/^Builtins_|^v8::|^Builtin:/.test(sym)) return 'V8 builtins/runtime';
  if (/^(sqlite3|wal|pcache|pager|btree)/i.test(sym)) return 'SQLite';
  return 'native/libc';
}

export function attribute(perfData, mainTid) {
  const text = execFileSync('perf', ['script', '-i', perfData, '-F', 'tid,ip,sym'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  const samples = text.split('\n\n').filter((s) => s.trim() !== '');
  const tidCounts = new Map();
  const parsed = samples.map((s) => {
    const lines = s.split('\n').filter(Boolean);
    const tid = Number(lines[0].trim());
    tidCounts.set(tid, (tidCounts.get(tid) ?? 0) + 1);
    const frames = lines.slice(1).map((l) => l.trim().replace(/^[0-9a-f]+\s+/, ''));
    const kernel = lines.slice(1).map((l) => /^\s*ffffffff/.test(l));
    return { tid, frames, kernel };
  });
  const main = mainTid ?? [...tidCounts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const table = new Map();
  let mainTotal = 0;
  let helpers = 0;
  const helperKinds = new Map();
  for (const { tid, frames, kernel } of parsed) {
    if (tid !== main) {
      helpers++;
      const k = frames.some((f) => /pbkdf2|PBKDF2|PKCS5|DeriveBits/i.test(f))
        ? 'libuv pool: PBKDF2 (SCRAM)'
        : frames.some((f) => /compiler::|Compile|Turbofan|Maglev/.test(f))
          ? 'V8 compiler'
          : frames.some((f) => /Heap|Scaveng|Mark|Sweep|GC|Evacuat|Concurrent/.test(f))
            ? 'V8 GC helpers'
            : frames.some((f) => /uv__work|worker|ThreadPool/.test(f))
              ? 'libuv pool: other'
              : 'other threads';
      helperKinds.set(k, (helperKinds.get(k) ?? 0) + 1);
      continue;
    }
    mainTotal++;
    let module = null;
    for (const f of frames) {
      const hit = MODULES.find(([, re]) => re.test(f));
      if (hit) {
        module = hit[0];
        break;
      }
    }
    if (!module) {
      if (frames.some((f) => /epoll_pwait|uv__io_poll$/.test(f)) && frames.length < 14 && !frames.some((f) => f.startsWith('JS:'))) module = 'event loop (epoll, idle wakeups)';
      else if (frames.some((f) => /Heap::|Scavenger|MarkCompact|GCTracer|Sweeper/.test(f))) module = 'GC (main thread)';
      else if (frames.some((f) => /JS:.*node:(net|internal\/stream)/.test(f) || /uv__read|uv__write|onStreamRead/.test(f))) module = 'node net/streams (no tracegate frame)';
      else if (frames.some((f) => /Compile|compiler::|Deoptimiz|Baseline/.test(f))) module = 'V8 compiler (main thread)';
      else module = 'other (node/V8 runtime)';
    }
    const leaf = kernel[0] ? 'kernel' : leafKind(frames[0] ?? '');
    const row = table.get(module) ?? { total: 0, kinds: {} };
    row.total++;
    row.kinds[leaf] = (row.kinds[leaf] ?? 0) + 1;
    table.set(module, row);
  }
  return { main, mainTotal, helpers, helperKinds: [...helperKinds.entries()].sort((a, b) => b[1] - a[1]), rows: [...table.entries()].sort((a, b) => b[1].total - a[1].total) };
}

export function formatAttribution(a, cpuUsPerTx) {
  const all = a.mainTotal + a.helpers;
  const kinds = ['kernel', 'JS', 'V8 builtins/runtime', 'SQLite', 'native/libc'];
  const lines = [`perf samples: ${all}; main thread ${((100 * a.mainTotal) / all).toFixed(1)}%, other threads ${((100 * a.helpers) / all).toFixed(1)}%`];
  lines.push(`${'module (innermost tracegate/library frame)'.padEnd(42)} ${'share'.padStart(6)} ${cpuUsPerTx ? 'µs/tx'.padStart(6) : ''}   leaf: ${kinds.join(' / ')}`);
  for (const [module, row] of a.rows) {
    const pct = (100 * row.total) / all;
    lines.push(
      `${module.padEnd(42)} ${pct.toFixed(1).padStart(5)}% ${cpuUsPerTx ? ((pct / 100) * cpuUsPerTx).toFixed(0).padStart(6) : ''}   ${kinds.map((k) => `${Math.round((100 * (row.kinds[k] ?? 0)) / row.total)}%`).join(' / ')}`,
    );
  }
  for (const [kind, n] of a.helperKinds) {
    const hp = (100 * n) / all;
    lines.push(`${`thread: ${kind}`.padEnd(42)} ${hp.toFixed(1).padStart(5)}% ${cpuUsPerTx ? ((hp / 100) * cpuUsPerTx).toFixed(0).padStart(6) : ''}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = attribute(process.argv[2], process.argv[3] ? Number(process.argv[3]) : undefined);
  console.log(formatAttribution(a, process.argv[4] ? Number(process.argv[4]) : undefined));
}
