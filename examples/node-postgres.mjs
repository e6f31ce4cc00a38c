// node-postgres against tracegate: the access token is the password, nothing else
// changes. The two queries show the simple protocol (a literal) and the extended protocol
// (a bound parameter); both pin trace_id to one value, which single-trace scope requires.
//
// Against the demo (`npm start`), from the repository root:
//
//   PGPASSWORD=$(npx tracegate token agent-a) PGSSLMODE=disable node examples/node-postgres.mjs tr_000001
//
// Elsewhere set PGHOST, PGPORT, PGPASSWORD (a fresh token) and PGSSLROOTCERT (the CA of
// tracegate's certificate, unless it is publicly trusted); TLS is verified by default.
import { readFileSync } from 'node:fs';
import pg from 'pg';

const traceId = process.argv[2];
if (!traceId || !/^[\w-]+$/.test(traceId)) {
  console.error('usage: node examples/node-postgres.mjs TRACE_ID');
  process.exit(2);
}

const client = new pg.Client({
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 6432),
  user: process.env.PGUSER ?? 'agent-a',
  database: 'traces',
  password: process.env.PGPASSWORD,
  ssl:
    process.env.PGSSLMODE === 'disable'
      ? false
      : process.env.PGSSLROOTCERT
        ? { ca: readFileSync(process.env.PGSSLROOTCERT) }
        : true,
});

await client.connect();
try {
  // Simple protocol: the id is a literal (validated above; prefer parameters).
  const trace = await client.query(`SELECT trace_id, risk, user_email, summary FROM traces WHERE trace_id = '${traceId}'`);
  console.table(trace.rows);
  // Extended protocol: Parse/Bind/Execute, decided at Bind when $1 is known.
  const steps = await client.query('SELECT step, role, content FROM trace_steps WHERE trace_id = $1 ORDER BY step', [traceId]);
  console.table(steps.rows);
} catch (err) {
  console.error(`${err.code ?? ''} ${err.message}`);
  process.exitCode = 1;
} finally {
  await client.end();
}
