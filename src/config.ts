// The proxy's configuration: one YAML file (SPEC section 8), `${ENV}` interpolated,
// validated at start. Errors name the key and the line (see yaml-file.ts). Everything
// has a safe default except what only the operator can know (upstream, issuer).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_MAX_STATEMENT_BYTES } from './sql/limits.js';
import { ConfigFileError, loadYaml, parseDuration, parseSize } from './yaml-file.js';

const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 10m or 250ms, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

const size = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 64MiB or 8MB, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return bytes;
  });

const port = z.number().int().min(0).max(65535);
const listen = z.object({ host: z.string().min(1).default('127.0.0.1'), port }).strict();

const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const configSchema = z
  .object({
    listen: listen.default({ host: '127.0.0.1', port: 6432 }),
    tls: z
      .object({
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        allowPlaintextOnLoopback: z.boolean().default(false),
      })
      .strict()
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key go together' })
      .default({ allowPlaintextOnLoopback: false }),
    upstream: z
      .object({
        host: z.string().min(1),
        port: port.default(5432),
        database: z.string().min(1),
        user: z.string().min(1),
        password: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        tls: z
          .object({
            mode: z.enum(['disable', 'prefer', 'require', 'verify-full']).default('prefer'),
            ca: z.string().min(1).optional(),
            serverName: z.string().min(1).optional(),
          })
          .strict()
          .default({ mode: 'prefer' }),
        statementTimeout: duration.default(30_000),
        searchPath: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a single lower-case schema name').default('public'),
        readOnly: z.boolean().default(true),
        connectTimeout: duration.default(5_000),
        // Upstream sessions kept between clients, reset in between (upstream/pool.ts).
        pool: z
          .object({
            maxIdle: z.number().int().min(0).max(10_000).default(20),
            idleTimeout: duration.default(60_000),
            maxLifetime: duration.default(30 * 60_000),
          })
          .strict()
          .default({ maxIdle: 20, idleTimeout: 60_000, maxLifetime: 30 * 60_000 }),
      })
      .strict()
      .refine((u) => (u.password === undefined) !== (u.passwordFile === undefined), {
        message: 'exactly one of password and passwordFile is required',
      }),
    oidc: z
      .object({
        issuer: z.url(),
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        jwksUri: z.url().optional(),
        subjectClaim: z.string().min(1).default('sub'),
        groupsClaim: z.string().min(1).default('groups'),
        clockSkew: duration.default(30_000),
        algorithms: z.array(z.enum(ASYMMETRIC_ALGS)).min(1).default(['RS256', 'ES256', 'PS256', 'EdDSA']),
        // Tokens verified in full, remembered so that an agent's many connections with
        // one token skip the signature check (auth/oidc-verifier.ts); size 0 turns it off.
        verifiedCache: z
          .object({ size: z.number().int().min(0).max(100_000).default(1000), ttl: duration.default(60_000) })
          .strict()
          .default({ size: 1000, ttl: 60_000 }),
      })
      .strict(),
    policy: z.string().min(1).optional(),
    // One instance: SQLite in one file. Several instances: one shared Postgres store
    // (SPEC section 11; README "Running several instances").
    store: z
      .union([
        z.object({ sqlite: z.object({ path: z.string().min(1), synchronous: z.enum(['normal', 'full']).default('normal') }).strict() }).strict(),
        z
          .object({
            postgres: z
              .object({
                url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL'),
                schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case schema name').default('tracegate'),
                poolSize: z.number().int().min(2).max(200).default(10),
              })
              .strict(),
          })
          .strict(),
      ])
      .default({ sqlite: { path: 'tracegate-audit.db', synchronous: 'normal' } }),
    admin: z
      .object({
        listen: listen.default({ host: '127.0.0.1', port: 8080 }),
        adminGroups: z.array(z.string().min(1)).default(['tracegate-admins']),
        approverGroups: z.array(z.string().min(1)).default(['security']),
        publicUrl: z.url().optional(),
        metricsAccess: z.enum(['public', 'admins']).default('public'),
        webhook: z
          .object({
            url: z.url(),
            includeStatement: z.boolean().default(true),
            timeout: duration.default(5_000),
            maxAttempts: z.number().int().min(1).max(20).default(5),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    mode: z.enum(['enforce', 'monitor']).default('enforce'),
    limits: z
      .object({
        maxMessageSize: size.default(64 * 1024 * 1024),
        // The parser runs on the shared event loop (sql/analyze.ts says what it costs).
        maxStatementSize: size.default(DEFAULT_MAX_STATEMENT_BYTES),
        maxConnections: z.number().int().positive().default(1000),
        // 0 = no limit. Off by default: behind a load balancer every client shares its
        // address, and many services share one subject; the operator knows which applies.
        maxConnectionsPerAddress: z.number().int().min(0).default(0),
        maxSessionsPerSubject: z.number().int().min(0).default(0),
        loginTimeout: duration.default(10_000),
        idleTimeout: duration.default(0),
        drainTimeout: duration.default(30_000),
      })
      .strict()
      .default({
        maxMessageSize: 64 * 1024 * 1024,
        maxStatementSize: DEFAULT_MAX_STATEMENT_BYTES,
        maxConnections: 1000,
        maxConnectionsPerAddress: 0,
        maxSessionsPerSubject: 0,
        loginTimeout: 10_000,
        idleTimeout: 0,
        drainTimeout: 30_000,
      }),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type Config = z.output<typeof configSchema> & { readonly file: string };

export function parseConfig(text: string, file: string, env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const config = loadYaml(text, file, configSchema, env);
  checkIssuerTransport(config.oidc.issuer, file);
  const base = dirname(resolve(file));
  const rel = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(base, p));
  return {
    ...config,
    file,
    policy: rel(config.policy),
    tls: { ...config.tls, cert: rel(config.tls.cert), key: rel(config.tls.key) },
    upstream: {
      ...config.upstream,
      passwordFile: rel(config.upstream.passwordFile),
      tls: { ...config.upstream.tls, ca: rel(config.upstream.tls.ca) },
    },
    store: 'sqlite' in config.store ? { sqlite: { ...config.store.sqlite, path: resolve(base, config.store.sqlite.path) } } : config.store,
  };
}

export function loadConfig(file: string, env: Readonly<Record<string, string | undefined>> = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(file, undefined, '', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseConfig(text, file, env);
}

/** The upstream password, read at start so a missing file fails the start, not a login. */
export function upstreamPassword(config: Config): string {
  const { password, passwordFile } = config.upstream;
  if (password !== undefined) return password;
  try {
    return readFileSync(passwordFile as string, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigFileError(config.file, undefined, 'upstream.passwordFile', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

// Tokens are bearer secrets and the JWKS decides who they are: fetching either over
// plain HTTP is only acceptable when nothing leaves the machine.
function checkIssuerTransport(issuer: string, file: string): void {
  const url = new URL(issuer);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  throw new ConfigFileError(file, undefined, 'oidc.issuer', 'must be https:// (http:// is accepted only on loopback)');
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h.startsWith('::ffff:127.');
}
