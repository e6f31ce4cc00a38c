// Sorting a detector-scanned value together with text of the statement's own is a range
// comparison: where a guess lands among the data says whether it is smaller or larger
// than the secret, and a guess per character reads it a character at a time. The policy
// refuses that in ORDER BY, in a window's or an aggregate's ORDER BY, and in min/max
// (derivation.ts noGuessSorted). But Postgres sorts in other clauses too, and returns
// the rows in that order:
//   PARTITION BY x        a WindowAgg always reads its input sorted by the partition
//   DISTINCT ON (x)       always Unique over a Sort on x
//   SELECT DISTINCT x, .. Unique over a Sort when a column cannot be hashed (bit)
//   UNION / INTERSECT / EXCEPT (not ALL): likewise
//   GROUP BY x, ..        GroupAggregate over a Sort, likewise
// With x a UNION ALL of agent-a's own step content (its OpenAI key at the end) and
// guesses `<text before the key> || chr(g)`, the row order tells the key's next
// character; the masker redacts the key in the content row but not the guesses' order.
// Each statement must be denied (42501), or the key must not come back.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const TRACE = SHOWCASE_TRACE_ID;
const KEY = PLANTED.find((p) => p.kind === 'openai-key')?.value ?? '';
const REDACTED = '[redacted:openai-key]';

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

// Step 4's content: a paragraph, then `OPENAI_API_KEY=<key>` (src/demo/generate.ts).
const CONTENT = `SELECT content AS x, 0 AS tag FROM trace_steps WHERE trace_id = $1 AND step = 4`;
const GUESSES = `SELECT $2 || chr(g), g FROM generate_series(33, 126) g`;
const MIXED = `(${CONTENT} UNION ALL ${GUESSES}) q`;

/**
 * Statements whose rows come back sorted on x COLLATE "C" (or on x, with the database's
 * C locale), x being the content or a guess; `tag` 0 is the content, g the guess
 * prefix || chr(g).
 */
const SHAPES: readonly (readonly [string, string, number])[] = [
  // All of the key but its last character (there the content ties with a guess).
  ['PARTITION BY', `SELECT tag, count(*) OVER (PARTITION BY x COLLATE "C") FROM ${MIXED}`, KEY.length - 1],
  ['DISTINCT ON', `SELECT DISTINCT ON (x COLLATE "C") tag FROM ${MIXED}`, 12],
  ['SELECT DISTINCT with a bit column', `SELECT DISTINCT x COLLATE "C" AS x, tag, B'1' FROM ${MIXED}`, 12],
  ['GROUP BY with a bit column', `SELECT min(tag) AS tag FROM ${MIXED} GROUP BY x COLLATE "C", B'1'::bit`, 12],
  [
    'UNION with a bit column',
    `SELECT x COLLATE "C" AS x, tag, B'1' FROM (${CONTENT}) c UNION SELECT $2 || chr(g), g, B'1' FROM generate_series(33, 126) g`,
    12,
  ],
];

type Outcome = { denied: true } | { denied: false; tags: number[] };

async function tags(sql: string, prefix: string): Promise<Outcome> {
  const client = await proxy.connect(agent);
  try {
    const r = await client.query<{ tag: number }>({ text: sql, values: [TRACE, prefix] });
    return { denied: false, tags: r.rows.map((row) => Number(row.tag)) };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === '42501') return { denied: true };
    throw err;
  } finally {
    await client.end();
  }
}

describe("a sort other than ORDER BY compares agent-a's OpenAI key with guesses", () => {
  test.each(SHAPES)('%s', async (_name, sql, length) => {
    expect(KEY.startsWith('sk-')).toBe(true);
    // What the caller may see: the content with its key redacted.
    const client = await proxy.connect(agent);
    const shown = await client.query<{ content: string }>({ text: 'SELECT content FROM trace_steps WHERE trace_id = $1 AND step = 4', values: [TRACE] });
    await client.end();
    const masked = shown.rows[0]?.content ?? '';
    expect(masked).toContain(`OPENAI_API_KEY=${REDACTED}`);
    const before = masked.slice(0, masked.indexOf(REDACTED));

    let recovered = '';
    while (recovered.length < length) {
      const outcome = await tags(sql, before + recovered);
      if (outcome.denied) return;
      // The content sorts right after the largest guess not above it: prefix || next char.
      const at = outcome.tags.indexOf(0);
      const previous = at > 0 ? outcome.tags[at - 1] : undefined;
      if (previous === undefined) break;
      recovered += String.fromCharCode(previous);
    }
    // Without the fix: the key's first `length` characters, in clear.
    expect(recovered).not.toBe(KEY.slice(0, length));
  });
});

test("array_agg(DISTINCT x) returns agent-a's OpenAI key among guesses, sorted", async () => {
  // An aggregate's DISTINCT sorts its input: the array holds the guesses and the
  // content (its key redacted inside the array) in order.
  const client = await proxy.connect(agent);
  const shown = await client.query<{ content: string }>({ text: 'SELECT content FROM trace_steps WHERE trace_id = $1 AND step = 4', values: [TRACE] });
  const masked = shown.rows[0]?.content ?? '';
  const before = masked.slice(0, masked.indexOf(REDACTED));
  let recovered = '';
  try {
    while (recovered.length < 12) {
      const prefix = before + recovered;
      const r = await client.query<{ a: string[] }>({ text: `SELECT array_agg(DISTINCT x COLLATE "C") AS a FROM ${MIXED}`, values: [TRACE, prefix] });
      const a = r.rows[0]?.a ?? [];
      const at = a.findIndex((v) => v.includes(REDACTED));
      const previous = at > 0 ? a[at - 1] : undefined;
      if (previous === undefined || !previous.startsWith(prefix)) break;
      recovered += previous.slice(prefix.length);
    }
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
  } finally {
    await client.end();
  }
  expect(recovered).not.toBe(KEY.slice(0, 12));
});

test.each([
  ['*', `SELECT * FROM trace_steps WHERE trace_id = $1 AND step = 4 UNION ALL SELECT 'g', g, 'x', $2 || chr(g), NULL FROM generate_series(33, 126) g ORDER BY content`],
  ['s.*', `SELECT s.* FROM trace_steps s WHERE s.trace_id = $1 AND s.step = 4 UNION ALL SELECT 'g', g, 'x', $2 || chr(g), NULL FROM generate_series(33, 126) g ORDER BY content`],
])("ORDER BY a name on a UNION whose first branch is %s sorts the other branches' values too", async (_name, sql) => {
  // The set operation's column `content` is the first branch's content and the second
  // branch's guesses; the policy looked at the first branch's star alone.
  const client = await proxy.connect(agent);
  const shown = await client.query<{ content: string }>({ text: 'SELECT content FROM trace_steps WHERE trace_id = $1 AND step = 4', values: [TRACE] });
  const masked = shown.rows[0]?.content ?? '';
  const before = masked.slice(0, masked.indexOf(REDACTED));
  let recovered = '';
  try {
    while (recovered.length < 12) {
      const r = await client.query<{ step: number }>({ text: sql, values: [TRACE, before + recovered] });
      const steps = r.rows.map((row) => Number(row.step));
      const at = steps.indexOf(4);
      const previous = at > 0 ? steps[at - 1] : undefined;
      if (previous === undefined) break;
      recovered += String.fromCharCode(previous);
    }
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
  } finally {
    await client.end();
  }
  expect(recovered).not.toBe(KEY.slice(0, 12));
});
