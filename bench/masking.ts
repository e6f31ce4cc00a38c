// Masking throughput on realistic DataRows: a traces row (trace_id, agent_id,
// user_email, created_at, body jsonb) of about 2 KB, in text result format, the way
// node-postgres and psql receive it. Two populations, measured in the same run:
//   masked    rows with planted secrets (email, card number as a JSON number, an
//             Anthropic key, a JWT, a phone number), every one of which gets rewritten
//   unmasked  rows of the same shape with nothing to mask, selected without the ruled
//             user_email column (SELECT trace_id, agent_id, created_at, body), which
//             must stay near-free and come back as the same Buffer
// MB/s counts DataRow bytes in. usPerRow is for the masked rows, the number issue 4
// bounds at 20 microseconds. Each figure is the fastest of 20 rounds of 100 ms, and CPU
// time is reported beside wall time: on a shared machine both also count neighbours.
// Called by the bench runner after tsc; no side effects.
import { createMasker } from '../src/masking/masker.js';
import type { FieldDescription } from '../protocol/backend.js';

export interface MaskingBenchResult {
  /** DataRow bytes in per wall-clock second. */
  maskedMBps: number;
  unmaskedMBps: number;
  /** Wall-clock microseconds per row. */
  usPerRow: number;
  unmaskedUsPerRow: number;
  /** Process CPU microseconds per row: steadier than wall time on a shared machine. */
  cpuUsPerRow: number;
  unmaskedCpuUsPerRow: number;
  rowBytes: number;
}

const TRACES_OID = 16384;

const FIELDS: FieldDescription[] = [
  { name: 'trace_id', tableOid: TRACES_OID, columnNumber: 1, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
  { name: 'agent_id', tableOid: TRACES_OID, columnNumber: 2, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
  { name: 'user_email', tableOid: TRACES_OID, columnNumber: 3, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
  { name: 'created_at', tableOid: TRACES_OID, columnNumber: 5, typeOid: 1184, typeSize: 8, typeModifier: -1, format: 0 },
  { name: 'body', tableOid: TRACES_OID, columnNumber: 7, typeOid: 3802, typeSize: -1, typeModifier: -1, format: 0 },
];

const COLUMNS = ['trace_id', 'agent_id', 'user_email', 'risk', 'created_at', 'summary', 'body'];

const WORDS = (
  'the customer asked about a delayed shipment and wanted to know whether the refund was processed ' +
  'I checked the order history and found two partial deliveries with different carriers so I will ' +
  'summarise the status and propose next steps including a replacement or a voucher for the inconvenience'
).split(' ');

/** Deterministic pseudo-random numbers, so every run measures the same rows. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 0x100000000;
  };
}

// Model output has line breaks, which JSON escapes as "\n": the rows carry them too.
function prose(rand: () => number, words: number): string {
  let out = '';
  for (let i = 0; i < words; i++) out += (i === 0 ? '' : i % 12 === 0 ? '.\n' : ' ') + (WORDS[Math.floor(rand() * WORDS.length)] as string);
  return out;
}

function traceBody(rand: () => number, n: number, secrets: boolean): string {
  const steps: unknown[] = [];
  for (let s = 1; s <= 4; s++) {
    steps.push({
      step: s,
      role: s % 2 === 1 ? 'user' : 'assistant',
      content:
        prose(rand, 40) +
        (secrets && s === 1 ? ' my email is alice.smith@example.com and phone +44 20 7946 0958' : '') +
        (secrets && s === 3 ? ' use key sk-ant-api03-Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX' : ''),
      tokens: 100 + Math.floor(rand() * 900),
      latency_ms: Math.floor(rand() * 5000),
      tool_calls:
        s % 2 === 0
          ? [{ id: `call_${n}_${s}`, name: 'lookup_order', arguments: { order_id: `ORD-2024-${String(n).padStart(6, '0')}`, include_history: true } }]
          : [],
    });
  }
  return JSON.stringify({
    trace_id: `tr_${n.toString(36).padStart(8, '0')}`,
    model: 'gpt-4o-2024-08-06',
    started_at: '2024-05-01T12:34:56.789Z',
    version: '1.4.2',
    request_id: '123e4567-e89b-12d3-a456-426614174000',
    steps,
    payment: secrets ? { card: 4111111111111111, auth: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U' } : { card: null, auth: null },
  });
}

function dataRow(values: string[]): Buffer {
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

function rows(secrets: boolean, count: number): Buffer[] {
  const rand = lcg(secrets ? 7 : 11);
  const out: Buffer[] = [];
  for (let n = 0; n < count; n++) {
    const email = secrets ? ['alice.smith@example.com'] : [];
    out.push(dataRow([`tr_${n}`, 'support-bot', ...email, '2024-05-01 12:34:56.789+00', traceBody(rand, n, secrets)]));
  }
  return out;
}

interface Measured {
  mbps: number;
  usPerRow: number;
  cpuUsPerRow: number;
}

/**
 * The fastest of `rounds` timed rounds over `input`: on a shared machine the slower
 * rounds measure the neighbours, the fastest one the masking. CPU time is of that round.
 */
function measure(mask: (row: Buffer) => Buffer, input: Buffer[], rounds: number, roundMs: number): Measured {
  let sink = 0;
  for (let i = 0; i < 20000; i++) sink += mask(input[i % input.length] as Buffer).length;
  let best: Measured | null = null;
  for (let r = 0; r < rounds; r++) {
    let rowsDone = 0;
    let bytes = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let elapsed = 0;
    while (elapsed < roundMs) {
      for (const row of input) {
        sink += mask(row).length;
        bytes += row.length;
      }
      rowsDone += input.length;
      elapsed = performance.now() - t0;
    }
    const cpu = process.cpuUsage(cpu0);
    const m = { mbps: bytes / 1e6 / (elapsed / 1000), usPerRow: (elapsed * 1000) / rowsDone, cpuUsPerRow: (cpu.user + cpu.system) / rowsDone };
    if (best === null || m.usPerRow < best.usPerRow) best = m;
  }
  if (sink === 0 || best === null) throw new Error('benchmark produced no output');
  return best;
}

export async function benchMasking(): Promise<MaskingBenchResult> {
  const masker = createMasker({
    hashKey: 'bench-hash-key-0123456789',
    detectors: 'all',
    columns: [{ column: 'public.traces.user_email', strategy: 'partial', keep: 4 }],
  });
  const columnOf = (_oid: number, attnum: number) => ({ table: 'public.traces', column: COLUMNS[attnum - 1] ?? '?' });
  const plan = masker.planResult(FIELDS, columnOf, { exempt: false });
  const cleanPlan = masker.planResult(FIELDS.filter((f) => f.name !== 'user_email'), columnOf, { exempt: false });
  if (plan === null || cleanPlan === null) throw new Error('bench plan unexpectedly empty');
  const secretRows = rows(true, 256);
  const cleanRows = rows(false, 256);
  for (const r of secretRows) if (plan.maskDataRow(r) === r) throw new Error('a planted row was not masked');
  for (const r of cleanRows) if (cleanPlan.maskDataRow(r) !== r) throw new Error('a clean row was rewritten');
  const masked = measure((r) => plan.maskDataRow(r), secretRows, 20, 100);
  const unmasked = measure((r) => cleanPlan.maskDataRow(r), cleanRows, 20, 100);
  const rowBytes = Math.round(secretRows.reduce((a, r) => a + r.length, 0) / secretRows.length);
  const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    maskedMBps: round(masked.mbps, 1),
    unmaskedMBps: round(unmasked.mbps, 1),
    usPerRow: round(masked.usPerRow, 2),
    unmaskedUsPerRow: round(unmasked.usPerRow, 2),
    cpuUsPerRow: round(masked.cpuUsPerRow, 2),
    unmaskedCpuUsPerRow: round(unmasked.cpuUsPerRow, 2),
    rowBytes,
  };
}
