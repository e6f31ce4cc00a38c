// The AI-agent flow the README shows: an orchestrator asks for a credential for the one
// trace a task needs and hands only its postgresql:// URL to the agent's Postgres tool,
// here the real MCP Postgres server (@modelcontextprotocol/server-postgres) driven over
// stdio by the real MCP client. The agent's first query reads the trace; anything after
// that, and any other trace, is refused: the URL leaks nothing that still works.
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { eventsEventually, issue } from './helpers.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const ALSO_MINE = WELL_KNOWN_TRACES.agentAHigh;
const SERVER = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-postgres/dist/index.js');

let proxy: TestProxy;
let orchestrator: string;
beforeAll(async () => {
  proxy = await startTestProxy({ admin: true });
  orchestrator = await getToken('agent-a');
});
afterAll(async () => proxy.close());

async function mcpWith(url: string): Promise<Client> {
  const client = new Client({ name: 'tracegate-test-agent', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [SERVER, url], stderr: 'ignore' }));
  return client;
}

/** The tool's rows, or the error text when the query was refused. */
async function query(client: Client, sql: string): Promise<{ rows: unknown } | { error: string }> {
  try {
    const result = (await client.callTool({ name: 'query', arguments: { sql } })) as { content: { type: string; text: string }[]; isError?: boolean };
    const text = result.content.map((c) => c.text).join('');
    return result.isError ? { error: text } : { rows: JSON.parse(text) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

describe('MCP Postgres server with a one-time credential URL', () => {
  test('the agent reads its one trace once; a second query and another trace are refused', async () => {
    const { id, json } = await issue(proxy, orchestrator, MINE, { reason: 'summarise the failed run' });
    const agent = await mcpWith(json.url);
    try {
      expect(await query(agent, `SELECT trace_id, risk FROM traces WHERE trace_id = '${MINE}'`)).toEqual({ rows: [{ trace_id: MINE, risk: 'low' }] });
      const again = await query(agent, `SELECT trace_id FROM traces WHERE trace_id = '${MINE}'`);
      // The server's pool reuses its connection (the session refuses a second read) or
      // opens a new one (the login is refused): either way nothing more is read.
      expect('error' in again && again.error).toMatch(/allows one read of trace .* and it has been made|has been used already/);
      const other = await query(agent, `SELECT trace_id FROM traces WHERE trace_id = '${ALSO_MINE}'`);
      expect('error' in other && other.error).toMatch(/allows a read of trace .* only|has been used already/);
    } finally {
      await agent.close();
    }
    const events = await eventsEventually(proxy, id, (t) => t.includes('spent'));
    expect(events.map((e) => e.type).slice(0, 4)).toEqual(['requested', 'issued', 'redeemed', 'spent']);
  });
});
