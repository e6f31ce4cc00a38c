// Deterministic generator for the demo traces: the same count always yields the same
// rows, byte for byte, so tests can name a trace and know its owner, risk and secrets.
// Pure: no database, no clock, no Math.random (a seeded PRNG drives every choice).

import { NEAR_MISSES, PLANTED, SHOWCASE_TRACE_ID, plantedOfKind } from './planted.js';
import type { PlantedSecret } from './planted.js';

export interface DemoTrace {
  readonly trace_id: string;
  readonly agent_id: string;
  readonly user_email: string;
  readonly risk: 'low' | 'medium' | 'high';
  readonly created_at: string;
  readonly summary: string;
  readonly body: unknown;
}

export interface DemoStep {
  readonly trace_id: string;
  readonly step: number;
  readonly role: string;
  readonly content: string;
  readonly tool_calls: unknown;
}

export interface DemoCustomer {
  readonly id: number;
  readonly email: string;
  readonly api_key: string;
}

export interface DemoData {
  readonly traces: readonly DemoTrace[];
  readonly steps: readonly DemoStep[];
  readonly customers: readonly DemoCustomer[];
}

/** Traces whose owner and risk tests rely on; fixed by the index rules below. */
export const WELL_KNOWN_TRACES = {
  agentALow: 'tr_000001',
  agentBMedium: 'tr_000002',
  agentAHigh: 'tr_000003',
  agentBLow: 'tr_000004',
  otherOwner: 'tr_000005',
  agentBHigh: 'tr_000007',
} as const;

/** The customers table: a non-trace table whose contents must never reach an agent. */
export const DEMO_CUSTOMERS: readonly DemoCustomer[] = [
  { id: 1, email: 'dana.whitfield@customer.example', api_key: 'cust_live_4Qm9TzR2vW8xY1bN6kP3' },
  { id: 2, email: 'eli.moreau@customer.example', api_key: 'cust_live_7Hd2LsK5nB9qX3wE8rT1' },
  { id: 3, email: 'farah.okafor@customer.example', api_key: 'cust_live_2Jv6PcM8tY4aZ7gU1oS5' },
  { id: 4, email: 'gus.lindqvist@customer.example', api_key: 'cust_live_9Wn3FbQ1xR6dH2kV8mL4' },
  { id: 5, email: 'hana.sato@customer.example', api_key: 'cust_live_5Ee8YtG4jN2cB7pA3zX9' },
];

const OTHER_OWNERS = ['agent-c', 'svc-reporting', 'agent-d'] as const;

export function traceId(n: number): string {
  return `tr_${String(n).padStart(6, '0')}`;
}

/** Owners cycle a, b, a, b, other: both demo agents own 40% of the traces. */
export function traceOwner(n: number): string {
  const slot = (n - 1) % 5;
  if (slot === 4) return OTHER_OWNERS[Math.floor(n / 5) % OTHER_OWNERS.length] ?? 'agent-c';
  return slot % 2 === 0 ? 'agent-a' : 'agent-b';
}

/** 20% high (n ending in 3 or 7), 30% medium, 50% low. */
export function traceRisk(n: number): 'low' | 'medium' | 'high' {
  const d = n % 10;
  if (d === 3 || d === 7) return 'high';
  if (d === 2 || d === 5 || d === 8) return 'medium';
  return 'low';
}

// mulberry32: tiny, fast and good enough to vary demo text; never used for secrets.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;

function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function int(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

const WORDS = [
  'the', 'agent', 'reviewed', 'invoice', 'customer', 'refund', 'policy', 'ledger', 'query',
  'result', 'summary', 'account', 'ticket', 'escalation', 'shipment', 'order', 'status',
  'pending', 'approved', 'region', 'latency', 'retry', 'tool', 'call', 'context', 'window',
  'draft', 'reply', 'checked', 'balance', 'history', 'notes', 'dispute', 'warehouse',
  'forecast', 'anomaly', 'report', 'weekly', 'contract', 'renewal', 'support', 'priority',
] as const;

const TOOLS = [
  'lookup_customer', 'search_orders', 'issue_refund', 'send_email', 'fetch_invoice',
  'query_warehouse', 'create_ticket', 'summarise_thread',
] as const;

function sentence(rng: Rng, min = 6, max = 16): string {
  const words = Array.from({ length: int(rng, min, max) }, () => pick(rng, WORDS));
  const text = words.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function paragraph(rng: Rng, sentences: number): string {
  return Array.from({ length: sentences }, () => sentence(rng)).join(' ');
}

function uuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Words that carry a planted value in prose, so it reads like a real transcript. */
function mention(secret: PlantedSecret): string {
  switch (secret.kind) {
    case 'email': return `reach me at ${secret.value}`;
    case 'phone': return `call back on ${secret.value}`;
    case 'credit-card': return `card on file ${secret.value}`;
    case 'iban': return `wire it to ${secret.value}`;
    case 'jwt': return `session token ${secret.value}`;
    case 'bearer': return `header Authorization: ${secret.value}`;
    case 'aws-access-key': return `aws_access_key_id=${secret.value}`;
    case 'github-token': return `export GITHUB_TOKEN=${secret.value}`;
    case 'openai-key': return `OPENAI_API_KEY=${secret.value}`;
    case 'slack-token': return `slack bot token ${secret.value}`;
    case 'gcp-api-key': return `maps key ${secret.value}`;
    case 'private-key': return `key material:\n${secret.value}\n`;
    case 'ip-address': return `request came from ${secret.value}`;
  }
}

function nearMissMention(value: string, kind: string): string {
  switch (kind) {
    case 'non-luhn-16': return `order number ${value}`;
    case 'version': return `client version ${value}`;
    default: return `correlation id ${value}`;
  }
}

/** Puts a value at a fresh, deeply nested spot of the body so detectors must recurse. */
function bury(rng: Rng, body: Body, value: string, label: string): void {
  const message = pick(rng, body.messages);
  switch (int(rng, 0, 4)) {
    case 0:
      message.content = `${message.content} ${label}`;
      return;
    case 1:
      body.metadata.customer.contact.notes.push(label);
      return;
    case 2: {
      const call = pick(rng, body.tool_calls);
      call.arguments.filters.push({ field: pick(rng, WORDS), value });
      return;
    }
    case 3:
      body.metadata.annotations.push({ level: { detail: { text: label } } });
      return;
    default: {
      const call = pick(rng, body.tool_calls);
      call.result.rows.push([pick(rng, WORDS), value, int(rng, 1, 999)]);
    }
  }
}

interface Body {
  request_id: string;
  model: string;
  client_version: string;
  messages: { role: string; content: string; name?: string }[];
  tool_calls: {
    id: string;
    name: string;
    arguments: { filters: { field: string; value: string }[]; limit: number };
    result: { rows: (string | number)[][]; truncated: boolean };
  }[];
  metadata: {
    customer: { contact: { email: string; phone: string | null; notes: string[] } };
    billing: { card: string | null; iban: string | null };
    client: { ip: string; tags: string[] };
    annotations: { level: { detail: { text: string } } }[];
  };
  usage: { prompt_tokens: number; completion_tokens: number };
}

function baseBody(rng: Rng, email: string): Body {
  const roles = ['system', 'user', 'assistant', 'tool'] as const;
  const messages = Array.from({ length: int(rng, 4, 7) }, (_, i) => ({
    role: i === 0 ? 'system' : pick(rng, roles.slice(1)),
    content: paragraph(rng, int(rng, 1, 3)),
  }));
  const tool_calls = Array.from({ length: int(rng, 1, 3) }, () => ({
    id: `call_${uuid(rng).slice(0, 8)}`,
    name: pick(rng, TOOLS),
    arguments: { filters: [{ field: pick(rng, WORDS), value: pick(rng, WORDS) }], limit: int(rng, 1, 50) },
    result: { rows: [[pick(rng, WORDS), int(rng, 1, 999)]], truncated: rng() < 0.2 },
  }));
  return {
    request_id: uuid(rng),
    model: 'demo-llm-2',
    client_version: `${int(rng, 1, 3)}.${int(rng, 0, 20)}.${int(rng, 0, 9)}`,
    messages,
    tool_calls,
    metadata: {
      customer: { contact: { email, phone: null, notes: [sentence(rng)] } },
      billing: { card: null, iban: null },
      client: { ip: '198.51.100.7', tags: [pick(rng, WORDS), pick(rng, WORDS)] },
      annotations: [],
    },
    usage: { prompt_tokens: int(rng, 200, 4000), completion_tokens: int(rng, 50, 900) },
  };
}

function generateTrace(n: number): { trace: DemoTrace; steps: DemoStep[] } {
  const rng = prng(0x7ace0000 + n);
  const id = traceId(n);
  const showcase = id === SHOWCASE_TRACE_ID;
  const email = rng() < 0.3 ? pick(rng, plantedOfKind('email')).value : `user${String(n).padStart(4, '0')}@example.com`;
  const body = baseBody(rng, email);

  // The showcase trace carries everything; the others carry a few planted values each.
  const secrets = showcase ? [...PLANTED] : Array.from({ length: int(rng, 2, 4) }, () => pick(rng, PLANTED));
  const nearMisses = showcase ? [...NEAR_MISSES] : rng() < 0.5 ? [pick(rng, NEAR_MISSES)] : [];

  for (const s of secrets) bury(rng, body, s.value, mention(s));
  for (const m of nearMisses) bury(rng, body, m.value, nearMissMention(m.value, m.kind));
  if (showcase) {
    body.metadata.customer.contact.phone = '+1-415-555-0132';
    body.metadata.billing = { card: '4111111111111111', iban: 'DE89370400440532013000' };
    body.metadata.client.ip = '203.0.113.42';
  } else if (rng() < 0.4) {
    body.metadata.billing.card = pick(rng, plantedOfKind('credit-card')).value;
  }

  const summaryExtra = showcase
    ? ` Customer ${mention(pick(rng, plantedOfKind('phone')))}; ${mention(pick(rng, plantedOfKind('credit-card')))}; ${nearMissMention('4111111111111112', 'non-luhn-16')}.`
    : rng() < 0.3 ? ` Note: ${mention(pick(rng, PLANTED))}.` : '';
  const trace: DemoTrace = {
    trace_id: id,
    agent_id: traceOwner(n),
    user_email: email,
    risk: traceRisk(n),
    created_at: new Date(Date.UTC(2025, 0, 1) + n * 37 * 60_000 + int(rng, 0, 59_999)).toISOString(),
    summary: `${sentence(rng)}${summaryExtra}`,
    body,
  };

  const stepCount = int(rng, 3, 6);
  const steps: DemoStep[] = [];
  for (let step = 1; step <= stepCount; step++) {
    const role = step === 1 ? 'user' : step % 2 === 0 ? 'assistant' : 'tool';
    const planted = showcase ? PLANTED[(step * 5) % PLANTED.length] : rng() < 0.35 ? pick(rng, PLANTED) : undefined;
    const content = `${paragraph(rng, int(rng, 1, 2))}${planted ? ` ${mention(planted)}` : ''}`;
    const tool_calls = role === 'assistant'
      ? [{
          name: pick(rng, TOOLS),
          arguments: {
            query: sentence(rng, 3, 6),
            auth: { headers: { authorization: showcase || rng() < 0.2 ? pick(rng, PLANTED.filter((p) => p.kind === 'bearer' || p.kind === 'jwt')).value : 'none' } },
            trace_ref: { id: uuid(rng), version: showcase ? '2.14.300.1' : body.client_version },
          },
        }]
      : null;
    steps.push({ trace_id: id, step, role, content, tool_calls });
  }
  return { trace, steps };
}

export function generateDemoData(count: number): DemoData {
  const traces: DemoTrace[] = [];
  const steps: DemoStep[] = [];
  for (let n = 1; n <= count; n++) {
    const generated = generateTrace(n);
    traces.push(generated.trace);
    steps.push(...generated.steps);
  }
  return { traces, steps, customers: DEMO_CUSTOMERS };
}
