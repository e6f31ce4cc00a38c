// Statement text in, facts out: the entry point the session calls for every Query and
// Parse. Results are cached by exact text (drivers repeat the same statements), so a
// repeated statement costs a map lookup. The facts are policy-independent and shared
// between callers: nobody may mutate them.
import { Blocked, Unanalysable, unwrap } from './ast.js';
import type { Analysis, StatementFacts } from './facts.js';
import { DEFAULT_MAX_STATEMENT_BYTES } from './limits.js';
import { LruCache } from './lru-cache.js';
import { initSqlParser, parseStatements } from './parser.js';
import { analyzeSelect } from './select-analyzer.js';
import { blockedFacts, utilityFacts } from './utility.js';

export { initSqlParser };

// Bounded by count and by total text length (an analysis grows with its text), so a
// client sending many distinct large statements cannot make the cache pin much memory;
// a statement longer than the whole budget is simply analysed every time.
const CACHE_ENTRIES = 4096;
const CACHE_TEXT_BUDGET = 2 * 1024 * 1024;

const cache = new LruCache<string, Analysis>(CACHE_ENTRIES, CACHE_TEXT_BUDGET);

/** `maxBytes`: longer text is refused with 54000 without being parsed (limits.ts). */
export function analyze(sql: string, maxBytes = DEFAULT_MAX_STATEMENT_BYTES): Analysis {
  const hit = cache.get(sql);
  if (hit) return hit;
  // UTF-8 takes at least a byte per UTF-16 unit: only shorter text needs counting.
  if (sql.length > maxBytes || Buffer.byteLength(sql, 'utf8') > maxBytes) {
    // Not cached: it would only push out the statements worth keeping.
    return {
      ok: false,
      sqlstate: '54000',
      message: `the statement is longer than ${maxBytes} bytes, the most tracegate analyses (limits.maxStatementSize)`,
    };
  }
  const analysis = analyzeUncached(sql);
  cache.set(sql, analysis, sql.length);
  return analysis;
}

/** For tests and benchmarks: forget every cached analysis. */
export function clearAnalysisCache(): void {
  cache.clear();
}

function analyzeUncached(sql: string): Analysis {
  const parsed = parseStatements(sql);
  if (!parsed.ok) return { ok: false, sqlstate: '42601', message: parsed.message };
  return { ok: true, statements: parsed.statements.map((s) => statementFacts(s.node, s.text)) };
}

function statementFacts(node: unknown, text: string): StatementFacts {
  try {
    const { type, body } = unwrap(node);
    return type === 'SelectStmt' ? analyzeSelect(body, text) : utilityFacts(type, body, text);
  } catch (err) {
    if (err instanceof Blocked) return blockedFacts(err, text);
    if (err instanceof Unanalysable) return { kind: 'unanalysable', reason: err.message, text };
    // A bug in the analyser (or a stack overflow) must not become an allow: fail closed.
    // The cause stays out of the reason, which reaches the client.
    if (err instanceof RangeError) return { kind: 'unanalysable', reason: 'the statement is too complex to analyse', text };
    return { kind: 'unanalysable', reason: 'the analyser could not process this statement', text };
  }
}
