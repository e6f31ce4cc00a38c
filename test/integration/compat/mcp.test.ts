// The MCP Postgres server agents use (@modelcontextprotocol/server-postgres) as a child
// process whose connection URL carries an access token, driven over stdio by the real MCP
// client (@modelcontextprotocol/sdk), as an agent host drives it. Its `query` tool runs
// the agent's SQL text in a read-only transaction; its resources (the schema discovery
// an agent host lists on start) read information_schema.
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDetail } from '../../../src/audit/store.js';
import { getToken, untilExpired } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { BULK_SQL, endedBecauseExpired, MINE, packageVersion, PLANTED_IN_MINE, recording, statementsOf } from './harness.js';
import { Report } from './results.js';

const SERVER = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-postgres/dist/index.js');
const READ = `SELECT trace_id, user_email, summary FROM traces WHERE trace_id = '${MINE}'`;
// What an agent runs to learn the schema through the tool: housekeeping catalogs only.
export const DISCOVERY_SQL = `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
WHERE n.nspname = 'public' AND c.relname IN ('traces', 'trace_steps') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum`;

const report = new Report('mcp-server-postgres', 'MCP: @modelcontextprotocol/server-postgres', 'real process over stdio, driven by the MCP SDK client', 'test/integration/compat/mcp.test.ts');
report.version = `${packageVersion('@modelcontextprotocol/server-postgres')} (npm; client: @modelcontextprotocol/sdk ${packageVersion('@modelcontextprotocol/sdk')})`;

let proxy: TestProxy;
const agents: Client[] = [];

function url(token: string): string {
  return `postgresql://agent-a:${encodeURIComponent(token)}@127.0.0.1:${proxy.port}/traces?sslmode=disable&application_name=compat-mcp`;
}

async function mcpWith(token: string): Promise<Client> {
  const client = new Client({ name: 'tracegate-compat-agent', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [SERVER, url(token)], stderr: 'ignore' }));
  agents.push(client);
  return client;
}

type ToolAnswer = { readonly rows: unknown[] } | { readonly error: string; readonly as: 'tool result' | 'JSON-RPC error' };

/** The tool's rows, or the error the agent sees (a tool result with isError, or an MCP error). */
async function query(client: Client, sql: string): Promise<ToolAnswer> {
  try {
    const result = (await client.callTool({ name: 'query', arguments: { sql } })) as { content: { type: string; text: string }[]; isError?: boolean };
    const text = result.content.map((c) => c.text).join('');
    return result.isError ? { error: text, as: 'tool result' } : { rows: JSON.parse(text) as unknown[] };
  } catch (err) {
    return { error: (err as Error).message, as: 'JSON-RPC error' };
  }
}

function rowsOf(a: ToolAnswer): Record<string, unknown>[] {
  if (!('rows' in a)) throw new Error(`the tool failed: ${a.error}`);
  return a.rows as Record<string, unknown>[];
}

let agent: Client;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await mcpWith(await getToken('agent-a'));
});

afterAll(async () => {
  await Promise.allSettled(agents.map((a) => a.close()));
  await proxy?.close();
  report.note('server-postgres 0.6.2 does nothing with the database when it starts. An agent host lists its resources (one per table, from information_schema.tables, and each table\'s columns from information_schema.columns): tracegate refuses both with 42501 ("information_schema.tables is not readable: read type metadata from pg_catalog"), which the agent sees as an MCP error. The `query` tool works, and reading pg_catalog through it describes the trace tables (README, "AI agents").');
  report.note('The `query` tool takes SQL text only (no parameters) and runs it in BEGIN TRANSACTION READ ONLY … ROLLBACK; a refused statement comes back as an MCP error (-32603) whose message is tracegate\'s 42501 message.');
  report.note('The connection URL is fixed when the server starts: after the token expires, the host restarts the server with a URL carrying a fresh token (or uses a one-time credential URL per task, README "One-time trace credentials").');
  await report.publish(['Schema discovery (resources/list)', 'Schema discovery through the query tool']);
});

describe('MCP Postgres server', () => {
  it('starts with a token in its connection URL and lists its tool', async () => {
    await report.check('login', 'postgresql://agent-a:<token>@host:port/traces as the server\'s argument', async () => {
      const { tools } = await agent.listTools();
      expect(tools.map((t) => t.name)).toContain('query');
      expect(rowsOf(await query(agent, 'SELECT 1 AS one'))).toEqual([{ one: 1 }]);
    });
  });

  it('its query tool reads one trace, masked', async () => {
    await report.check('read', 'the query tool (SQL text only: the trace pinned by a literal; simple query in a read-only transaction)', async () => {
      const rows = rowsOf(await query(agent, READ));
      expect(rows).toHaveLength(1);
      const [row] = rows;
      expect(row?.['trace_id']).toBe(MINE);
      expect(String(row?.['user_email'])).not.toContain('@');
      for (const planted of PLANTED_IN_MINE) expect(String(row?.['summary'])).not.toContain(planted);
    });
    report.set('prepared', 'n/a', 'the query tool takes SQL text only');
    report.set('binary', 'n/a', 'node-postgres inside the server asks for text results');
  });

  it('a bulk query comes back to the agent as an error carrying the 42501 message; the tool keeps working', async () => {
    const denied = await query(agent, BULK_SQL);
    const code = 'error' in denied ? (/MCP error (-?\d+)/.exec(denied.error)?.[1] ?? 'no code') : 'none';
    await report.check('denied', () => `a ${'as' in denied ? denied.as : 'result'} (MCP error ${code}) whose message is tracegate's 42501 message and decision id`, () => {
      expect('error' in denied && denied.error).toMatch(/public\.traces is read without pinning trace_id to one value.*\(decision [0-9a-f-]{36}\)/);
    });
    await report.check('usable', 'the next tool call reads the trace', async () => {
      expect(rowsOf(await query(agent, READ))).toHaveLength(1);
    });
  });

  it('schema discovery: resources/list is refused with a clear message; pg_catalog through the tool works', async () => {
    await report.extraCheck('Schema discovery (resources/list)', 'refused: MCP error with "information_schema.tables is not readable: read type metadata from pg_catalog (decision …)"', async () => {
      await expect(agent.listResources()).rejects.toThrow(/information_schema\.tables is not readable: read type metadata from pg_catalog/);
    });
    await report.extraCheck('Schema discovery through the query tool', 'pg_class / pg_attribute / format_type() through the query tool list the trace tables\' columns', async () => {
      const rows = rowsOf(await query(agent, DISCOVERY_SQL));
      expect(rows).toContainEqual({ table_name: 'traces', column_name: 'user_email', data_type: 'text' });
      expect(rows).toContainEqual({ table_name: 'trace_steps', column_name: 'tool_calls', data_type: 'jsonb' });
    });
  });

  it('after the token expires the tool fails; the server restarted with a fresh token works', async () => {
    await report.check('expiry', 'the pooled connection ends with FATAL 28000 ("token expired…", seen as an MCP error); the URL is fixed, so the host restarts the server with a fresh token, which works', async () => {
      // Long enough for the MCP server's start and first query on a loaded machine.
      const token = await getToken('agent-a', { expiresIn: 8 });
      const expiring = await mcpWith(token);
      expect(rowsOf(await query(expiring, READ))).toHaveLength(1);
      await untilExpired(token);
      const after = await query(expiring, READ);
      expect('error' in after && after.error).toMatch(/token expired/);
      await expiring.close();
      const fresh = await mcpWith(await getToken('agent-a'));
      expect(rowsOf(await query(fresh, READ))).toHaveLength(1);
    });
  });

  it('was recorded: every tool call, the refusal, the expired session', async () => {
    const rec = await recording(proxy);
    let sessions: SessionDetail[];
    try {
      sessions = await rec.sessions(endedBecauseExpired);
    } finally {
      await rec.close();
    }
    const statements = statementsOf(sessions);
    expect(statements.filter((s) => s.text === READ && s.traceId === MINE).length).toBeGreaterThanOrEqual(3);
    expect(statements.find((s) => s.text === BULK_SQL)).toMatchObject({ decision: 'deny', sqlstate: '42501' });
    expect(statements.some((s) => s.text === 'BEGIN TRANSACTION READ ONLY' && s.decision === 'allow')).toBe(true);
    expect(endedBecauseExpired(sessions)).toBe(true);
  });
});
