// Masking cost on the rows the proxy really relays: the demo traces (src/demo's
// generator, the rows `tracegate demo` and the bench load), as DataRows of the bench's
// point read (SELECT trace_id, agent_id, user_email, risk, created_at, summary, body FROM
// traces), in text result format, each value rendered the way Postgres's output
// functions render it: jsonb as jsonb_out writes it (keys by length then bytes, ", " and
// ": " separators), timestamptz in ISO style. The masker has the masking section of
// bench/policy.yaml (and policies/default.yaml): every detector, user_email partial,
// body with its two jsonPaths rules. Three populations, measured in the same run:
//   typical   the 999 demo traces other than the showcase: a 2 KB body with two to four
//             planted secrets each (the bench's point read is one of them, tr_000011)
//   showcase  tr_000001, 4.7 KB with every planted secret and near miss
//   clean     the typical rows with every planted value (and the generated contact
//             emails and client address) overwritten by letters of the same length,
//             near misses (order numbers, versions, UUIDs) kept,
//             selected without the ruled user_email column: nothing to mask, so every
//             row must come back as the same Buffer
// MB/s counts DataRow bytes in per second of process CPU time (on a shared machine
// wall time also counts the neighbours). Each figure is the median of 15 rounds of
// 100 ms. Called by the bench runner after tsc; no side effects.
import { createMasker, type ColumnResolver, type ResultMasker } from '../src/masking/masker.js';
import { generateDemoData, type DemoTrace } from '../src/demo/generate.js';
import { PLANTED, SHOWCASE_TRACE_ID } from '../src/demo/planted.js';
import type { FieldDescription } from '../protocol/backend.js';

export interface MaskingBenchResult {
  /** Typical demo rows: DataRow bytes in per CPU second, and CPU microseconds per row. */
  maskedMBps: number;
  cpuUsPerRow: number;
  /** Clean rows (nothing to mask). */
  unmaskedMBps: number;
  unmaskedCpuUsPerRow: number;
  /** The showcase row (every planted secret). */
  showcaseMBps: number;
  showcaseCpuUsPerRow: number;
  /** Mean DataRow size of the typical and the showcase rows. */
  rowBytes: number;
  showcaseRowBytes: number;
}

const TRACES_OID = 16384;
const COLUMNS = ['trace_id', 'agent_id', 'user_email', 'risk', 'created_at', 'summary', 'body'] as const;
const TYPE_OF: Record<(typeof COLUMNS)[number], number> = {
  trace_id: 25,
  agent_id: 25,
  user_email: 25,
  risk: 25,
  created_at: 1184,
  summary: 25,
  body: 3802,
};

function fields(columns: readonly (typeof COLUMNS)[number][]): FieldDescription[] {
  return columns.map((name) => ({
    name,
    tableOid: TRACES_OID,
    columnNumber: COLUMNS.indexOf(name) + 1,
    typeOid: TYPE_OF[name],
    typeSize: name === 'created_at' ? 8 : -1,
    typeModifier: -1,
    format: 0,
  }));
}

/** jsonb_out's text: object keys ordered by byte length, then bytes; ", " and ": ". */
function jsonbText(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  entries.sort(([a], [b]) => {
    const ab = Buffer.from(a, 'utf8');
    const bb = Buffer.from(b, 'utf8');
    return ab.length - bb.length || Buffer.compare(ab, bb);
  });
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}: ${jsonbText(x)}`).join(', ')}}`;
}

/** timestamptz_out with DateStyle ISO and TimeZone UTC: "2025-01-01 00:37:12.345+00". */
function timestamptzText(iso: string): string {
  return iso.replace('T', ' ').replace(/\.?0*Z$/, '+00');
}

function dataRow(values: readonly string[]): Buffer {
  const parts = values.map((v) => Buffer.from(v, 'utf8'));
  const size = 7 + parts.reduce((a, p) => a + 4 + p.length, 0);
  const out = Buffer.alloc(size);
  out[0] = 0x44;
  out.writeInt32BE(size - 1, 1);
  out.writeUInt16BE(parts.length, 5);
  let o = 7;
  for (const p of parts) {
    o = out.writeInt32BE(p.length, o);
    o += p.copy(out, o);
  }
  return out;
}

function row(t: DemoTrace, columns: readonly (typeof COLUMNS)[number][]): Buffer {
  const text = (c: (typeof COLUMNS)[number]): string => {
    if (c === 'body') return jsonbText(t.body);
    if (c === 'created_at') return timestamptzText(t.created_at);
    return t[c];
  };
  return dataRow(columns.map(text));
}

// Everything the demo plants, longest first (an email inside a longer mention goes
// whole); a bearer token's mention names it a credential ("Authorization: x").
const PLANTED_VALUES = [...PLANTED.flatMap((p) => (p.kind === 'bearer' ? [`header Authorization: ${p.value}`, p.value] : [p.value])), '198.51.100.7'].sort((a, b) => b.length - a.length);
const GENERATED_EMAIL = /user\d{4}@example\.com/g;

function scrub(s: string): string {
  let out = s.replace(GENERATED_EMAIL, (m) => 'q'.repeat(m.length));
  for (const v of PLANTED_VALUES) out = out.split(v).join('q'.repeat(v.length));
  return out;
}

/** The trace with every planted value overwritten, in every string and key of it. */
function clean(t: DemoTrace): DemoTrace {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrub(k), walk(x)]));
    return v;
  };
  return { ...t, user_email: scrub(t.user_email), summary: scrub(t.summary), body: walk(t.body) };
}

interface Measured {
  mbps: number;
  cpuUsPerRow: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Median of `rounds` rounds of about `roundMs` of process CPU time each. */
function measure(mask: (row: Buffer) => Buffer, input: readonly Buffer[], rounds: number, roundMs: number): Measured {
  const bytesPerPass = input.reduce((a, r) => a + r.length, 0);
  let sink = 0;
  for (let i = 0; i < 20000; i++) sink += mask(input[i % input.length] as Buffer).length;
  const usPerRow: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let rowsDone = 0;
    const cpu0 = process.cpuUsage();
    let cpuUs = 0;
    while (cpuUs < roundMs * 1000) {
      for (const row of input) sink += mask(row).length;
      rowsDone += input.length;
      const cpu = process.cpuUsage(cpu0);
      cpuUs = cpu.user + cpu.system;
    }
    usPerRow.push(cpuUs / rowsDone);
  }
  if (sink === 0) throw new Error('benchmark produced no output');
  const cpuUsPerRow = median(usPerRow);
  return { cpuUsPerRow, mbps: bytesPerPass / input.length / cpuUsPerRow };
}

export interface MaskingWorkload {
  /** The point read's result masker, and the one without user_email (clean rows). */
  plan: ResultMasker;
  cleanPlan: ResultMasker;
  typical: Buffer[];
  showcase: Buffer[];
  clean: Buffer[];
}

/** The bench's rows and maskers, for benchMasking and for profiling drivers. */
export function maskingWorkload(): MaskingWorkload {
  const masker = createMasker({
    hashKey: 'bench-hash-key-0123456789',
    detectors: 'all',
    columns: [
      { column: 'public.traces.user_email', strategy: 'partial', keep: 4 },
      { column: 'public.traces.body', jsonPaths: ['$.user.email', '$.credentials'], strategy: 'redact' },
    ],
  });
  const columnOf: ColumnResolver = (oid, attnum) => (oid === TRACES_OID ? { table: 'public.traces', column: COLUMNS[attnum - 1] ?? '?' } : undefined);
  const cleanColumns = COLUMNS.filter((c) => c !== 'user_email');
  const plan = masker.planResult(fields(COLUMNS), columnOf, { exempt: false });
  const cleanPlan = masker.planResult(fields(cleanColumns), columnOf, { exempt: false });
  if (plan === null || cleanPlan === null) throw new Error('bench plan unexpectedly empty');

  const traces = generateDemoData(1000).traces;
  const typical = traces.filter((t) => t.trace_id !== SHOWCASE_TRACE_ID).map((t) => row(t, COLUMNS));
  const showcase = traces.filter((t) => t.trace_id === SHOWCASE_TRACE_ID).map((t) => row(t, COLUMNS));
  const cleanRows = traces.filter((t) => t.trace_id !== SHOWCASE_TRACE_ID).map((t) => row(clean(t), cleanColumns));
  for (const r of [...typical, ...showcase]) if (plan.maskDataRow(r) === r) throw new Error('a demo row with planted secrets was not masked');
  for (const r of cleanRows) if (cleanPlan.maskDataRow(r) !== r) throw new Error('a clean row was rewritten');
  return { plan, cleanPlan, typical, showcase, clean: cleanRows };
}

export async function benchMasking(): Promise<MaskingBenchResult> {
  const { plan, cleanPlan, typical, showcase, clean: cleanRows } = maskingWorkload();
  const masked = measure((r) => plan.maskDataRow(r), typical, 15, 100);
  const unmasked = measure((r) => cleanPlan.maskDataRow(r), cleanRows, 15, 100);
  const show = measure((r) => plan.maskDataRow(r), showcase, 15, 100);
  const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
  const mean = (rows: readonly Buffer[]): number => Math.round(rows.reduce((a, r) => a + r.length, 0) / rows.length);
  return {
    maskedMBps: round(masked.mbps, 1),
    cpuUsPerRow: round(masked.cpuUsPerRow, 2),
    unmaskedMBps: round(unmasked.mbps, 1),
    unmaskedCpuUsPerRow: round(unmasked.cpuUsPerRow, 2),
    showcaseMBps: round(show.mbps, 1),
    showcaseCpuUsPerRow: round(show.cpuUsPerRow, 2),
    rowBytes: mean(typical),
    showcaseRowBytes: mean(showcase),
  };
}
