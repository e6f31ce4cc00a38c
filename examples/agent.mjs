// An AI agent's side of tracegate, end to end: get an access token from the OIDC issuer
// with the client_credentials grant (the agent's own identity, no human in the loop),
// connect to tracegate with node-postgres using the token as the password, and read ONE
// trace: its row and its steps, each query pinned to that trace_id. What comes back is
// already masked; what the agent would hand to its model is printed.
//
// Against the demo (`npm start`), from the repository root:
//
//   eval "$(npx tracegate token agent-a --env)"
//   node examples/agent.mjs tr_000001
//
// Against a real deployment, set the same variables yourself:
//   OIDC_ISSUER         the issuer URL (its /.well-known/openid-configuration is read)
//   OIDC_CLIENT_ID      this agent's client id
//   OIDC_CLIENT_SECRET  this agent's client secret
//   OIDC_AUDIENCE       optional: sent as `audience` (Auth0 and others want it)
//   OIDC_SCOPE          optional: sent as `scope` (Entra ID wants api://.../.default)
//   TRACEGATE_HOST, TRACEGATE_PORT   where tracegate listens (127.0.0.1:6432)
//   PGSSLMODE           disable (demo on loopback only) or verify-full (the default)
//   PGSSLROOTCERT       the CA that signed tracegate's certificate, if not a public one
import { readFileSync } from 'node:fs';
import pg from 'pg';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the comment at the top of this file)`);
  return value;
}

async function accessToken() {
  const issuer = required('OIDC_ISSUER').replace(/\/$/, '');
  const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!discovery.ok) throw new Error(`OIDC discovery at ${issuer} failed: HTTP ${discovery.status}`);
  const { token_endpoint: tokenEndpoint } = await discovery.json();
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (process.env.OIDC_AUDIENCE) form.set('audience', process.env.OIDC_AUDIENCE);
  if (process.env.OIDC_SCOPE) form.set('scope', process.env.OIDC_SCOPE);
  // RFC 6749 2.3.1: client_secret_basic, id and secret form-encoded first.
  const basic = Buffer.from(
    `${encodeURIComponent(required('OIDC_CLIENT_ID'))}:${encodeURIComponent(required('OIDC_CLIENT_SECRET'))}`,
  ).toString('base64');
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  const body = await res.json();
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new Error(`token request failed: HTTP ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  }
  return body.access_token;
}

function sslOption() {
  const mode = process.env.PGSSLMODE ?? 'verify-full';
  if (mode === 'disable') return false;
  if (mode !== 'verify-full') throw new Error('use PGSSLMODE=verify-full (or disable, for the demo on loopback)');
  return process.env.PGSSLROOTCERT ? { ca: readFileSync(process.env.PGSSLROOTCERT) } : true;
}

async function main() {
  const traceId = process.argv[2];
  if (!traceId) throw new Error('usage: node examples/agent.mjs TRACE_ID');
  const client = new pg.Client({
    host: process.env.TRACEGATE_HOST ?? '127.0.0.1',
    port: Number(process.env.TRACEGATE_PORT ?? 6432),
    // tracegate takes the identity from the token; the user name is only a label.
    user: process.env.OIDC_CLIENT_ID ?? 'agent',
    database: 'traces',
    password: await accessToken(),
    ssl: sslOption(),
    application_name: 'tracegate-example-agent',
  });
  await client.connect();
  try {
    // Both statements pin trace_id with a bound parameter: one trace per request.
    const trace = await client.query(
      'SELECT trace_id, risk, created_at, summary FROM traces WHERE trace_id = $1',
      [traceId],
    );
    const steps = await client.query(
      'SELECT step, role, content FROM trace_steps WHERE trace_id = $1 ORDER BY step',
      [traceId],
    );
    const row = trace.rows[0];
    if (!row) throw new Error(`trace ${traceId} not found`);
    console.log(`trace ${row.trace_id} (risk ${row.risk}, ${row.created_at.toISOString()})`);
    console.log(`summary: ${row.summary}`);
    for (const s of steps.rows) console.log(`[${s.step}] ${s.role}: ${s.content}`);
  } finally {
    await client.end();
  }
}

main().catch((err) => {
  // A refusal from tracegate carries a SQLSTATE (42501 denied, 53400 over quota, ...).
  console.error(`agent: ${err.code ? `${err.code} ` : ''}${err.message}`);
  process.exitCode = 1;
});
