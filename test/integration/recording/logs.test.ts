// The proxy's pino log over a real session: one JSON line per session start and end and
// per decision, and never a token, the upstream password, a bound parameter's secret or
// a row value, although the session logs in with a real token and reads a trace full of
// planted secrets. The proxy runs with the production logger (createLogger), writing to
// a stream the test reads instead of stdout.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import pg from 'pg';
import type { SessionDetail } from '../../../src/audit/store.js';
import { loadConfig } from '../../../src/config.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { createLogger } from '../../../src/log.js';
import { startProxy, type RunningProxy } from '../../../src/main.js';
import { getToken, mintToken, testEnv } from '../../helpers/env.js';
import { endedSession, leaked, MASK_KEY, proxyDir, sessionIdByApplication, type ProxyDir } from './harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const READS = [
  'SELECT * FROM traces WHERE trace_id = $1',
  'SELECT step, content, tool_calls FROM trace_steps WHERE trace_id = $1 ORDER BY step',
];

interface LogLine {
  readonly event?: string;
  readonly session?: string;
  readonly [key: string]: unknown;
}

let dir: ProxyDir;
let proxy: RunningProxy;
let output = '';
let token: string;
let expired: string;
const received: unknown[] = [];

beforeAll(async () => {
  dir = proxyDir();
  process.env['TRACEGATE_MASK_KEY'] ??= MASK_KEY;
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      output += chunk.toString('utf8');
      done();
    },
  });
  proxy = await startProxy(loadConfig(dir.configFile), { log: createLogger({ level: 'info', destination }) });
  token = await getToken('agent-a');
  const client = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: 'agent', database: 'traces', password: token, application_name: 'recording-logs' });
  client.on('error', () => undefined);
  await client.connect();
  for (const sql of READS) received.push((await client.query(sql, [MINE])).rows);
  await client.query('SELECT email, api_key FROM customers').catch(() => undefined);
  await client.end();
  // A refused login logs why, and must not log the token it refused.
  expired = await mintToken('expired');
  const refused = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: 'agent', database: 'traces', password: expired });
  refused.on('error', () => undefined);
  await refused.connect().catch(() => undefined);
  await endedSession(dir.storePath, await sessionIdByApplication(dir.storePath, 'recording-logs'));
});
afterAll(async () => {
  await proxy?.close();
  dir?.[Symbol.dispose]();
});

function lines(): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

test('every line is one JSON object', () => {
  expect(lines().length).toBeGreaterThan(3);
});

async function sessionLines(): Promise<{ detail: SessionDetail; mine: LogLine[] }> {
  const sessionId = await sessionIdByApplication(dir.storePath, 'recording-logs');
  const detail = await endedSession(dir.storePath, sessionId);
  return { detail, mine: lines().filter((l) => l.session === sessionId || l['sessionId'] === sessionId) };
}

test('one line per session start and one per session end', async () => {
  const { detail, mine } = await sessionLines();
  expect(mine.filter((l) => l.event === 'session.start')).toEqual([
    expect.objectContaining({ subject: 'agent-a', jti: detail.session.tokenJti, applicationName: 'recording-logs' }),
  ]);
  expect(mine.filter((l) => l.event === 'session.end')).toEqual([expect.objectContaining({ reason: 'client terminated' })]);
});

test('one line per decision, allowed or denied, naming the audit record', async () => {
  const { detail, mine } = await sessionLines();
  const decisions = mine.filter((l) => l.event === 'decision');
  expect(decisions.map((l) => [l['decisionId'], l['decision'], l['rule'], l['traceId'] ?? null])).toEqual(
    detail.statements.map((s) => [s.decisionId, s.decision, s.rule, s.traceId]),
  );
});

test('no token, no upstream password, no planted secret and no row value', () => {
  expect(output).not.toContain(token);
  expect(output).not.toContain(token.split('.')[2]);
  expect(output).not.toContain(expired);
  expect(output).not.toContain(testEnv().pg.proxyPassword);
  expect(leaked(output)).toEqual([]);
  // Not even the masked values the client was allowed to see.
  const values = (received as Record<string, unknown>[][]).flat().flatMap((row) => Object.values(row));
  const distinctive = values.filter((v): v is string => typeof v === 'string' && v.length > 12 && v !== MINE);
  expect(distinctive.length).toBeGreaterThan(0);
  for (const value of distinctive) expect(output).not.toContain(value);
});
