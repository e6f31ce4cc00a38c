// The one place that calls libpg-query: PostgreSQL 15's own parser compiled to WASM.
// No other module may parse SQL for a decision: any difference between what a second
// parser sees and what the server runs is a bypass. This module turns parser output
// into raw statement nodes with their text spans; it does not interpret them.
import { setFlagsFromString } from 'node:v8';
import { loadModule, parseSync } from 'libpg-query';

let ready: Promise<void> | null = null;
let loaded = false;

export function initSqlParser(): Promise<void> {
  if (ready === null) {
    // WebAssembly stays on Liftoff, V8's baseline compiler. Within the first statements
    // V8 would otherwise tier the parser's hottest functions (the generated grammar) up
    // to TurboFan, whose compiler zones for them reach about 35 MB on V8's worker
    // threads; glibc keeps some 20 MB of that resident in those threads' arenas for the
    // life of the process. Liftoff code parses about 10% slower (5 to 8 µs of an
    // uncached analysis), and only a statement text not yet in the analysis cache is
    // parsed. The flag is read when a module is compiled, so it is set before the load.
    setFlagsFromString('--liftoff-only');
    ready = loadModule().then(() => {
      loaded = true;
    });
  }
  return ready;
}

export interface RawStatement {
  readonly node: unknown;
  readonly text: string;
}

export type ParseResult =
  | { readonly ok: true; readonly statements: readonly RawStatement[] }
  | { readonly ok: false; readonly message: string };

const NON_ASCII = /[^\x00-\x7f]/;

export function parseStatements(sql: string): ParseResult {
  if (!loaded) throw new Error('the SQL parser is not initialised: await initSqlParser() first');
  // The parser reads a C string: text after a NUL would be invisible to it. A Query
  // message cannot carry one either, so a NUL here is an attack or a framing bug.
  if (sql.includes('\0')) return { ok: false, message: 'the statement contains a NUL character' };
  // libpg-query refuses blank input outright; Postgres answers it with EmptyQueryResponse.
  if (sql.trim() === '') return { ok: true, statements: [] };
  let tree: unknown;
  try {
    tree = parseSync(sql);
  } catch (err) {
    // A RangeError is the JSON tree of a pathologically nested statement overflowing the
    // stack: refuse it like the server refuses an over-deep statement.
    if (err instanceof RangeError) return { ok: false, message: 'the statement is nested too deeply to analyse' };
    const message = err instanceof Error && err.message !== '' ? err.message : 'syntax error';
    return { ok: false, message };
  }
  const stmts = (tree as { stmts?: unknown }).stmts ?? [];
  if (!Array.isArray(stmts)) return { ok: false, message: 'unexpected parser output' };
  // Locations are byte offsets into the UTF-8 text.
  const bytes = NON_ASCII.test(sql) ? Buffer.from(sql, 'utf8') : null;
  const statements = stmts.map((raw: { stmt?: unknown; stmt_location?: number; stmt_len?: number }) => {
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : undefined;
    const text = bytes ? bytes.subarray(start, end ?? bytes.length).toString('utf8') : sql.slice(start, end);
    return { node: raw.stmt, text: text.trim() };
  });
  return { ok: true, statements };
}
