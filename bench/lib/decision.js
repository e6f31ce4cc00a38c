// Decision micro-bench: analyze() (sql/, libpg-query) and decide() (policy/) from dist,
// with policies/default.yaml and an agent identity shaped like the OIDC verifier's.
//   cached    the statement text is in the analysis cache: analyze() hit + decide()
//             with the trace facts known (what a repeated statement costs once the
//             owner/risk lookup is cached)
//   uncached  the analysis cache is cleared first: parse + analyse + decide
//   gate/tx   what the gate runs per extended-protocol transaction today: analyze at
//             Parse + the Parse pre-check decide + decide at Bind (-> lookup) + decide
//             again with the looked-up facts (all cache hits)
import { loadPolicyFile } from '../../dist/src/policy/load.js';
import { decide } from '../../dist/src/policy/decide.js';
import { analyze, clearAnalysisCache, initSqlParser } from '../../dist/src/sql/analyze.js';
import { join } from 'node:path';
import { ROOT } from './tracegate.js';

export const STATEMENTS = [
  {
    name: 'point read (bench statement)',
    sql: 'SELECT trace_id, agent_id, user_email, risk, created_at, summary, body FROM traces WHERE trace_id = $1',
    params: ['tr_000001'],
  },
  {
    name: 'steps of a trace, literal pin',
    sql: "SELECT step, role, content, tool_calls FROM trace_steps WHERE trace_id = 'tr_000001' ORDER BY step LIMIT 50",
    params: [],
  },
  {
    name: 'join with a pinned key',
    sql: 'SELECT t.summary, s.step, s.content FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.trace_id = $1 AND s.step <= 10 ORDER BY s.step',
    params: ['tr_000001'],
  },
];

const ANY_PARAMS = new Proxy([], {
  get: (target, key, receiver) => (typeof key === 'string' && /^\d+$/.test(key) ? '\u0000parameter' : Reflect.get(target, key, receiver)),
});

// The machine is shared (pgbench, Postgres, the proxy, other jobs): each figure is the
// best of several short rounds, timed by this process's CPU time, so that time slices
// given to other processes do not count.
function timeLoop(fn, minMs, rounds = 5) {
  for (let i = 0; i < 3000; i++) fn(i);
  let best = Infinity;
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    let ops = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < minMs / rounds) {
      for (let i = 0; i < 100; i++) fn(n++);
      ops += 100;
    }
    const cpu = process.cpuUsage(cpu0);
    best = Math.min(best, (cpu.user + cpu.system) / ops);
  }
  return best;
}

export async function benchDecision({ minMs = 400 } = {}) {
  process.env.TRACEGATE_MASK_KEY ??= 'bench-mask-key-0123456789abcdef';
  await initSqlParser();
  const policy = loadPolicyFile(join(ROOT, 'policies', 'default.yaml'));
  const now = Date.now();
  const identity = Object.freeze({
    subject: 'agent-a',
    groups: ['ai-agents'],
    claims: Object.freeze({ sub: 'agent-a', groups: ['ai-agents'], iss: 'http://127.0.0.1/', aud: 'tracegate' }),
    jti: 'bench-jti',
    expiresAt: now + 3_600_000,
    tokenHash: '0'.repeat(64),
  });
  const trace = { exists: true, owner: 'agent-a', risk: 'low' };
  const per = [];
  for (const s of STATEMENTS) {
    clearAnalysisCache();
    const check = decide(policy, identity, analyze(s.sql), s.params, now, trace);
    if (check.outcome !== 'allow') throw new Error(`decision bench: "${s.name}" is not allowed (${check.outcome}: ${check.reason})`);
    const cachedUs = timeLoop(() => decide(policy, identity, analyze(s.sql), s.params, now, trace), minMs);
    const uncachedUs = timeLoop(() => {
      clearAnalysisCache();
      decide(policy, identity, analyze(s.sql), s.params, now, trace);
    }, minMs);
    per.push({ name: s.name, cachedUs, uncachedUs });
  }
  const point = STATEMENTS[0];
  analyze(point.sql);
  const gateTxUs = timeLoop(() => {
    const a = analyze(point.sql);
    decide(policy, identity, a, ANY_PARAMS, now);
    const first = decide(policy, identity, a, point.params, now);
    if (first.outcome === 'lookup') decide(policy, identity, a, point.params, now, trace);
  }, minMs);
  const mean = (k) => per.reduce((a, p) => a + p[k], 0) / per.length;
  return { statements: per, cachedUs: mean('cachedUs'), uncachedUs: mean('uncachedUs'), gateTxUs, pointCachedUs: per[0].cachedUs, pointUncachedUs: per[0].uncachedUs };
}
