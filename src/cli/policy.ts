// `tracegate policy check FILE` and `tracegate policy explain ... "SQL"`: validate a
// policy file, and show the decision the proxy would make for a statement, an identity
// and parameter values, without a database (owner and risk can be simulated). Exit
// codes: 0 valid / allowed (or allowed pending a lookup or an approval), 1 invalid
// file or denied, 2 usage.
import type { Identity } from '../identity.js';
import { decide } from '../policy/decide.js';
import type { Decision } from '../policy/decision.js';
import { loadPolicyFile, PolicyError } from '../policy/load.js';
import type { Policy, TraceInfo } from '../policy/types.js';
import { analyze, initSqlParser } from '../sql/analyze.js';
import type { StatementFacts } from '../sql/facts.js';

const HELP = `Usage:
  tracegate policy check FILE [--search-path SCHEMA]
  tracegate policy explain [--policy FILE] --sub SUBJECT --groups G[,G]... [options] "SQL"

check    validates FILE (YAML, \${ENV} interpolated) and prints a summary; every error
         names the file, the line and the key. Reference: policies/README.md.
explain  prints the decision for SQL as SUBJECT in groups G, and why. No database is
         used: when the rule needs the trace's owner or risk, simulate them.

explain options:
  --policy FILE           the policy (default policies/default.yaml)
  --sub SUBJECT           the token subject (also its "sub" claim)
  --groups G[,G]          the caller's groups (repeatable)
  --claim NAME=VALUE      another token claim; a JSON value is parsed (repeatable)
  --param VALUE           the next bind parameter, $1 first (repeatable)
  --null-param            the next bind parameter is NULL
  --trace-owner OWNER     simulate the trace's owner column
  --trace-risk RISK       simulate the trace's risk column
  --trace-missing         simulate a trace that does not exist
  --search-path SCHEMA    the upstream search_path (default public)

Exit status: 0 valid or allowed, 1 invalid or denied, 2 usage.`;

type Out = (line: string) => void;

const stderr: Out = (line) => {
  process.stderr.write(`${line}\n`);
};

export async function runPolicyCommand(args: string[], out: Out, err: Out = stderr): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    out(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'check') return check(rest, out, err);
  if (sub === 'explain') return explain(rest, out, err);
  err(`tracegate policy: unknown subcommand "${sub}"\n\n${HELP}`);
  return 2;
}

class UsageError extends Error {}

/** Options in order (parameters are positional among themselves), then the SQL. */
function parseOptions(args: readonly string[], valued: ReadonlySet<string>, flags: ReadonlySet<string>): { options: [string, string | null][]; positionals: string[] } {
  const options: [string, string | null][] = [];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (flags.has(name) && eq === -1) {
      options.push([name, null]);
    } else if (valued.has(name)) {
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      options.push([name, value]);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { options, positionals };
}

function load(file: string, searchPath: string | undefined, missingEnv: string[] | null): Policy {
  // explain needs no secrets: a missing variable gets a placeholder (and a note), so the
  // default policy can be explained without TRACEGATE_MASK_KEY.
  const env =
    missingEnv === null
      ? process.env
      : new Proxy(process.env, {
          get: (target, key) => {
            const value = typeof key === 'string' ? target[key] : undefined;
            if (value !== undefined || typeof key !== 'string') return value;
            missingEnv.push(key);
            return `placeholder-for-${key}`.padEnd(32, '-');
          },
        });
  return loadPolicyFile(file, { env, ...(searchPath === undefined ? {} : { searchPath }) });
}

function check(args: readonly string[], out: Out, err: Out): number {
  let parsed;
  try {
    parsed = parseOptions(args, new Set(['search-path']), new Set());
  } catch (e) {
    err(`tracegate policy check: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || extra.length) {
    err(`tracegate policy check: expected one FILE\n\n${HELP}`);
    return 2;
  }
  const searchPath = parsed.options.find(([n]) => n === 'search-path')?.[1] ?? undefined;
  try {
    const p = load(file, searchPath, null);
    out(`${file}: ok`);
    out(`  trace tables: ${p.traceTables.map((t) => `${t.qualified} (key ${t.key}${t.owner ? `, owner ${t.owner}` : ''}${t.risk ? `, risk ${t.risk}` : ''})`).join(', ')}`);
    for (const r of p.rules) {
      const ent = r.entitlement.type === 'any' ? 'any trace' : r.entitlement.type === 'owner' ? `own traces (owner = claim ${r.entitlement.claim})` : `traces named in claim ${r.entitlement.claim}`;
      const approval = r.approval ? `, approval for risk ${[...r.approval.risks].join('/')} by ${r.approval.quorum} of ${r.approval.approverGroups.join(', ')}` : '';
      out(`  rule ${r.name}: groups ${r.groups.join(', ')}; ${ent}${approval}${r.maskingExempt ? '; masking exempt' : ''}`);
    }
    out(`  masked columns: ${p.masking.columns.map((c) => `${c.column} (${c.strategy})`).join(', ') || 'none'}; detectors: ${Array.isArray(p.masking.detectors) ? p.masking.detectors.join(', ') : p.masking.detectors}`);
    return 0;
  } catch (e) {
    if (e instanceof PolicyError) {
      err(e.message);
      return 1;
    }
    throw e;
  }
}

async function explain(args: readonly string[], out: Out, err: Out): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(
      args,
      new Set(['policy', 'sub', 'groups', 'claim', 'param', 'trace-owner', 'trace-risk', 'search-path']),
      new Set(['null-param', 'trace-missing']),
    );
    if (parsed.positionals.length !== 1) throw new UsageError('expected exactly one SQL text (quote it)');
  } catch (e) {
    err(`tracegate policy explain: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const get = (name: string): string | undefined => parsed.options.filter(([n]) => n === name).map(([, v]) => v ?? '').pop();
  const all = (name: string): string[] => parsed.options.filter(([n]) => n === name).map(([, v]) => v ?? '');
  const subject = get('sub');
  const groups = all('groups').flatMap((g) => g.split(',')).map((g) => g.trim()).filter((g) => g !== '');
  if (subject === undefined || groups.length === 0) {
    err(`tracegate policy explain: --sub and --groups are required\n\n${HELP}`);
    return 2;
  }
  const claims: Record<string, unknown> = { sub: subject, groups };
  for (const c of all('claim')) {
    const eq = c.indexOf('=');
    if (eq <= 0) {
      err(`tracegate policy explain: --claim expects NAME=VALUE, got ${JSON.stringify(c)}`);
      return 2;
    }
    claims[c.slice(0, eq)] = jsonOrString(c.slice(eq + 1));
  }
  const params = parsed.options.filter(([n]) => n === 'param' || n === 'null-param').map(([n, v]) => (n === 'param' ? (v ?? '') : null));
  const owner = get('trace-owner');
  const risk = get('trace-risk');
  const missing = parsed.options.some(([n]) => n === 'trace-missing');
  const trace: TraceInfo | null | undefined = missing ? null : owner !== undefined || risk !== undefined ? { exists: true, owner: owner ?? null, risk: risk ?? null } : undefined;

  const file = get('policy') ?? 'policies/default.yaml';
  const missingEnv: string[] = [];
  let policy: Policy;
  try {
    policy = load(file, get('search-path'), missingEnv);
  } catch (e) {
    if (e instanceof PolicyError) {
      err(e.message);
      return 1;
    }
    throw e;
  }
  if (missingEnv.length) out(`note: ${[...new Set(missingEnv)].join(', ')} not set; placeholders used (explain needs no secrets)`);

  await initSqlParser();
  const sql = parsed.positionals[0] as string;
  const identity: Identity = { subject, groups, claims, jti: undefined, expiresAt: Number.POSITIVE_INFINITY, tokenHash: '' };
  const analysis = analyze(sql);
  const decision = decide(policy, identity, analysis, params, Date.now(), trace);
  printDecision(decision, out);
  if (analysis.ok) analysis.statements.forEach((s, i) => out(`statement ${i + 1}: ${describeStatement(s)}`));
  return decision.outcome === 'deny' ? 1 : 0;
}

function jsonOrString(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function printDecision(d: Decision, out: Out): void {
  out(`decision: ${d.outcome}`);
  out(`category: ${d.category}`);
  out(`rule: ${d.rule ?? '(none)'}`);
  out(`reason: ${d.reason}`);
  switch (d.outcome) {
    case 'deny':
      out(`sqlstate: ${d.sqlstate}`);
      return;
    case 'lookup':
      out(`trace: ${d.traceId}`);
      out(`needs: the ${d.columns.join(' and ')} of the trace from ${d.table.table}; simulate with --trace-owner, --trace-risk or --trace-missing`);
      return;
    case 'needs-approval':
      out(`approval: ${d.approval.quorum} approver(s) from ${d.approval.approverGroups.join(', ')}, within ${Math.round(d.approval.timeoutMs / 1000)}s`);
      printTerms(d, out);
      return;
    case 'allow':
      if (d.category === 'trace-read') printTerms(d, out);
      else if (d.limits) out(`limits: maxRows ${d.limits.maxRows}, maxBytes ${d.limits.maxBytes}`);
      return;
  }
}

function printTerms(d: Extract<Decision, { category: 'trace-read'; outcome: 'allow' | 'needs-approval' }>, out: Out): void {
  out(`trace: ${d.traceId}`);
  if (d.pinnedParams.length) out(`pinned by: ${d.pinnedParams.map((n) => `$${n}`).join(', ')}`);
  out(`limits: maxRows ${d.limits.maxRows}, maxBytes ${d.limits.maxBytes}`);
  out(`grant ttl: ${d.grantTtlMs} ms`);
  out(`masking: ${d.maskingExempt ? 'exempt' : 'applied'}`);
}

function describeStatement(s: StatementFacts): string {
  switch (s.kind) {
    case 'select': {
      const relations = s.entries.flatMap((e) => (e.type === 'relation' ? [`${e.relation.schema ? `${e.relation.schema}.` : ''}${e.relation.name}${e.relation.alias ? ` (as ${e.relation.alias})` : ''}`] : []));
      const functions = [...new Set(s.functions.map((f) => f.name))];
      return `select; reads ${relations.join(', ') || 'no tables'}${functions.length ? `; calls ${functions.join(', ')}` : ''}`;
    }
    case 'blocked':
      return `${s.command} (blocked: ${s.category})`;
    case 'unanalysable':
      return `unanalysable: ${s.reason}`;
    default:
      return s.kind;
  }
}
