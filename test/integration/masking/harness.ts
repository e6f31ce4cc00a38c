// Shared by the masking bypass tests: agent-a runs a statement on its own trace; a
// refusal by the policy (42501) passes, anything else is read back for planted secrets.
import { PLANTED } from '../../../src/demo/planted.js';
import type { TestProxy } from '../../helpers/proxy.js';

/** The planted secrets (kind: needle) in `output`; `butLast`: also when only the last character is missing (one guess, checked with md5). */
export function leaked(output: string, butLast = false): string[] {
  return PLANTED.filter((p) => output.includes(butLast ? p.needle.slice(0, -1) : p.needle)).map((p) => `${p.kind}: ${p.needle}`);
}

export const unreverse = (s: string): string => [...s].reverse().join('');

/** Every run of hex digits after an `x` (bytea's hex output, `\x...`), decoded as UTF-8. */
export function unhex(values: readonly string[]): string {
  const out: string[] = [];
  for (const v of values) for (const m of v.matchAll(/x((?:[0-9a-f]{2})+)/g)) out.push(Buffer.from(m[1] as string, 'hex').toString('utf8'));
  return out.join('\n');
}

/** Runs `sql` with `values` as `token`: whether the policy refused it, else every value as text (non-strings as JSON). */
export async function runAs(proxy: TestProxy, token: string, sql: string, values: readonly unknown[]): Promise<{ denied: boolean; values: string[] }> {
  const client = await proxy.connect(token);
  try {
    const r = await client.query({ text: sql, values: [...values], rowMode: 'array' });
    return { denied: false, values: (r.rows as unknown[][]).flat().map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) };
  } catch (err) {
    if ((err as { code?: string }).code === '42501') return { denied: true, values: [] };
    throw err;
  } finally {
    await client.end();
  }
}

/** runAs, every value reversed back (the tests' statements reverse what they read, past the detectors). */
export async function recoveredAs(proxy: TestProxy, token: string, sql: string, values: readonly unknown[]): Promise<{ denied: boolean; text: string }> {
  const r = await runAs(proxy, token, sql, values);
  return { denied: r.denied, text: r.values.map(unreverse).join('\n') };
}
