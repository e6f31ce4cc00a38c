// Reads a V8 .cpuprofile (node --cpu-prof) and aggregates self time by function and
// file, and by module group (protocol framing, session relay, gate/policy, SQL parser,
// audit store, masking, pino, node internals, ...), so that a profile of the proxy under
// load says where its CPU goes without opening DevTools.
import { readFileSync } from 'node:fs';

// First match wins. Paths are file:// URLs of dist/ (compiled) or node_modules/.
const GROUPS = [
  ['(idle)', (f) => f.functionName === '(idle)'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['(program) native/VM', (f) => f.functionName === '(program)'],
  // Native stream-handle writes: one write(2)/writev(2) each, as the relay writes.
  ['socket writes (syscalls)', (f) => f.url === '' && /^(writeBuffer|writev|writeUtf8String|writeLatin1String|writeAsciiString|writeUcs2String)$/.test(f.functionName)],
  ['regexp (mostly masking detectors)', (f) => f.url === '' && f.functionName.startsWith('RegExp:')],
  ['buffer/string conversion', (f) => f.url === '' && /Slice$|^(byteLengthUtf8|copy|compare|fill|indexOf\w*)$/.test(f.functionName)],
  ['protocol framing/codec', (f) => /\/dist\/protocol\//.test(f.url)],
  ['session relay', (f) => /\/dist\/src\/(session|server)\//.test(f.url)],
  ['gate/policy/sql', (f) => /\/dist\/src\/(gate|policy|sql|grants|approvals|revocation)\//.test(f.url)],
  ['libpg-query', (f) => /node_modules\/libpg-query\//.test(f.url)],
  ['audit store/SQLite (incl. native)', (f) => /\/dist\/src\/audit\/|node_modules\/(better-sqlite3|bindings)\//.test(f.url)],
  ['masking', (f) => /\/dist\/src\/masking\//.test(f.url)],
  ['pino/logging', (f) => /node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact)\/|\/dist\/src\/log\.js/.test(f.url)],
  ['metrics (prom-client)', (f) => /node_modules\/(prom-client|tdigest|bintrees)\/|\/dist\/src\/admin\/metrics/.test(f.url)],
  ['auth (jose)', (f) => /node_modules\/(jose|openid-client|oauth4webapi)\/|\/dist\/src\/auth\//.test(f.url)],
  ['pg/pg-protocol (upstream login, lookups)', (f) => /node_modules\/(pg|pg-protocol|pg-pool|pg-types|pgpass)\/|\/dist\/src\/upstream\//.test(f.url)],
  ['tracegate other', (f) => /\/dist\/src\//.test(f.url)],
  ['node internals: net/stream', (f) => /^node:(net|stream|internal\/(streams|stream_base_commons|net))/.test(f.url) || /internal\/streams|stream_base/.test(f.url)],
  ['node internals: timers/events/async', (f) => /^node:(events|timers|internal\/(timers|process\/task_queues|async_hooks|event_target))/.test(f.url)],
  ['node internals: buffer/crypto/other', (f) => /^node:/.test(f.url)],
  ['native (no url)', (f) => f.url === ''],
  ['other', () => true],
];

export function groupOf(callFrame) {
  for (const [name, test] of GROUPS) if (test(callFrame)) return name;
  return 'other';
}

function shortUrl(url) {
  if (url === '') return '(native)';
  return url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
}

/** Self time (µs) per function and per group. Idle time is reported apart. */
export function summariseProfile(file, window = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  // Sample times are CLOCK_MONOTONIC microseconds, the clock process.hrtime reads, so a
  // window taken in the bench process selects the samples of the load alone.
  const inWindow = (t) => (window.fromUs === undefined || t >= window.fromUs) && (window.toUs === undefined || t <= window.toUs);
  let t = profile.startTime;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (!inWindow(t)) continue;
    first = Math.min(first, t);
    last = Math.max(last, t);
    // timeDeltas[i] is the time before sample i; attribute the next delta to sample i.
    const dt = deltas[i + 1] ?? 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  if (self.size === 0 && (window.fromUs !== undefined || window.toUs !== undefined)) return summariseProfile(file);
  const fns = new Map();
  const groups = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    const group = groupOf(f);
    if (group === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const key = `${f.functionName || '(anonymous)'}\t${shortUrl(f.url)}:${f.lineNumber + 1}`;
    const entry = fns.get(key) ?? { fn: f.functionName || '(anonymous)', where: `${shortUrl(f.url)}:${f.lineNumber + 1}`, group, us: 0 };
    entry.us += us;
    fns.set(key, entry);
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  // Inclusive time (self + callees) of tracegate's own functions: which entry points the
  // self time above is spent under. Recursion is counted once per stack.
  const inclusive = new Map();
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node || groupOf(node.callFrame) === '(idle)') continue;
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parentOf.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (!f || !/\/dist\/(src|protocol)\//.test(f.url)) continue;
      const key = `${f.functionName || '(anonymous)'}\t${shortUrl(f.url)}:${f.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const e = inclusive.get(key) ?? { fn: f.functionName || '(anonymous)', where: `${shortUrl(f.url)}:${f.lineNumber + 1}`, us: 0 };
      e.us += us;
      inclusive.set(key, e);
    }
  }
  const top = [...fns.values()].sort((a, b) => b.us - a.us);
  return {
    totalUs: total,
    idleUs: idle,
    wallUs: Number.isFinite(first) ? last - first : profile.endTime - profile.startTime,
    functions: top.map((e) => ({ ...e, pct: (100 * e.us) / total })),
    inclusive: [...inclusive.values()].sort((a, b) => b.us - a.us).map((e) => ({ ...e, pct: (100 * e.us) / total })),
    groups: [...groups.entries()].map(([group, us]) => ({ group, us, pct: (100 * us) / total })).sort((a, b) => b.us - a.us),
  };
}

export function formatProfile(summary, topN = 25) {
  const lines = [];
  const ms = (us) => (us / 1000).toFixed(0);
  lines.push(`busy ${ms(summary.totalUs)} ms, idle ${ms(summary.idleUs)} ms of ${ms(summary.wallUs)} ms profiled (percentages are of busy time)`);
  lines.push('');
  lines.push('By module group (self time):');
  for (const g of summary.groups) lines.push(`  ${g.pct.toFixed(1).padStart(5)}%  ${ms(g.us).padStart(6)} ms  ${g.group}`);
  lines.push('');
  lines.push(`Top ${topN} functions by self time:`);
  summary.functions.slice(0, topN).forEach((f, i) => {
    lines.push(`  ${String(i + 1).padStart(2)}. ${f.pct.toFixed(1).padStart(5)}%  ${f.fn.slice(0, 40).padEnd(40)} ${f.group.padEnd(26)} ${f.where}`);
  });
  lines.push('');
  lines.push('tracegate functions by inclusive time (self + callees):');
  summary.inclusive.slice(0, 20).forEach((f) => {
    lines.push(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.fn.slice(0, 40).padEnd(40)} ${f.where}`);
  });
  return lines.join('\n');
}
