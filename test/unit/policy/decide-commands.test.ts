// Commands: what is always blocked, what housekeeping drivers send and must keep
// working without a grant, which settings may change, and the function, operator,
// type and catalog allow-lists.
import { beforeAll, describe, expect, it } from 'vitest';
import { initSqlParser } from '../../../src/sql/analyze.js';
import { DRIVER_INTROSPECTION } from './driver-queries.js';
import { run } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const BLOCKED: readonly (readonly [string, RegExp])[] = [
  [`INSERT INTO traces (trace_id) VALUES ('x')`, /INSERT: writes are always blocked/],
  [`UPDATE traces SET risk = 'low' WHERE trace_id = 't1'`, /UPDATE: writes/],
  [`DELETE FROM traces WHERE trace_id = 't1'`, /DELETE: writes/],
  [`MERGE INTO traces t USING trace_steps s ON s.trace_id = t.trace_id WHEN MATCHED THEN DELETE`, /MERGE: writes/],
  [`TRUNCATE traces`, /TRUNCATE: writes/],
  [`CREATE TABLE x (a int)`, /schema changes are always blocked/],
  [`CREATE TEMP TABLE x AS SELECT * FROM traces WHERE trace_id = 't1'`, /CREATE TABLE AS/],
  [`DROP TABLE traces`, /schema changes/],
  [`ALTER TABLE traces ADD COLUMN x int`, /schema changes/],
  [`CREATE INDEX ON traces (risk)`, /schema changes/],
  [`CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'`, /schema changes/],
  [`CREATE VIEW v AS SELECT * FROM traces`, /schema changes/],
  [`COMMENT ON TABLE traces IS 'x'`, /schema changes/],
  [`GRANT SELECT ON customers TO PUBLIC`, /privilege and role management/],
  [`REVOKE SELECT ON traces FROM PUBLIC`, /privilege and role management/],
  [`GRANT pg_read_server_files TO CURRENT_USER`, /privilege/],
  [`CREATE ROLE evil SUPERUSER`, /privilege/],
  [`ALTER ROLE CURRENT_USER SET search_path = evil`, /privilege/],
  [`SET ROLE postgres`, /changing role is never allowed/],
  [`SET ROLE NONE`, /changing role is never allowed/],
  [`RESET ROLE`, /changing role is never allowed/],
  [`SET SESSION AUTHORIZATION postgres`, /session_authorization is never allowed/],
  [`SET SESSION AUTHORIZATION DEFAULT`, /session_authorization is never allowed/],
  [`SET search_path = evil, public`, /search_path is never allowed/],
  [`SET search_path TO DEFAULT`, /search_path is never allowed/],
  [`SET LOCAL search_path = pg_temp`, /search_path is never allowed/],
  [`RESET search_path`, /search_path is never allowed/],
  [`SET SCHEMA 'evil'`, /search_path is never allowed/],
  [`DO $$ BEGIN PERFORM pg_sleep(1); END $$`, /DO: server-side code/],
  [`CALL p()`, /CALL: server-side code/],
  [`PREPARE p AS SELECT * FROM traces`, /PREPARE: SQL-level PREPARE/],
  [`EXECUTE p`, /EXECUTE: SQL-level/],
  [`DECLARE c CURSOR FOR SELECT * FROM traces WHERE trace_id = 't1'`, /cursors are blocked/],
  [`FETCH ALL FROM c`, /cursors are blocked/],
  [`CLOSE ALL`, /cursors are blocked/],
  [`LISTEN ch`, /LISTEN\/NOTIFY/],
  [`NOTIFY ch, 'x'`, /LISTEN\/NOTIFY/],
  [`UNLISTEN *`, /LISTEN\/NOTIFY/],
  [`LOAD 'auto_explain'`, /loading server modules/],
  [`VACUUM traces`, /maintenance/],
  [`ANALYZE traces`, /maintenance/],
  [`CHECKPOINT`, /maintenance/],
  [`REFRESH MATERIALIZED VIEW mv`, /maintenance/],
  [`EXPLAIN ANALYZE SELECT * FROM traces WHERE trace_id = 't1'`, /EXPLAIN ANALYZE executes the statement/],
  [`EXPLAIN (ANALYZE, BUFFERS) SELECT 1`, /EXPLAIN ANALYZE/],
  [`EXPLAIN SELECT * FROM traces WHERE trace_id = 't1'`, /EXPLAIN is blocked: its row estimates/],
  [`COPY traces TO STDOUT`, /COPY is always blocked/],
  [`COPY traces FROM STDIN`, /COPY is always blocked/],
  [`COPY (SELECT * FROM traces WHERE trace_id = 't1') TO STDOUT`, /COPY/],
  [`COPY traces TO '/tmp/x'`, /COPY/],
  [`SELECT * INTO TEMP stolen FROM traces WHERE trace_id = 't1'`, /SELECT INTO creates a table/],
  [`SELECT * INTO stolen FROM traces WHERE trace_id = 't1'`, /SELECT INTO/],
  [`SELECT * FROM traces WHERE trace_id = 't1' FOR UPDATE`, /FOR UPDATE\/SHARE/],
  [`SELECT * FROM traces WHERE trace_id = 't1' FOR SHARE SKIP LOCKED`, /FOR UPDATE\/SHARE/],
  [`SELECT * FROM traces WHERE trace_id = 't1' FOR KEY SHARE`, /FOR UPDATE\/SHARE/],
  [`LOCK TABLE traces`, /explicit locks/],
  [`SET TRANSACTION READ WRITE`, /READ WRITE transactions are not allowed/],
  [`BEGIN READ WRITE`, /READ WRITE transactions are not allowed/],
  [`START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE`, /READ WRITE/],
  [`SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE`, /READ WRITE/],
  [`SET TRANSACTION SNAPSHOT '00000003-0000001B-1'`, /SNAPSHOT is not allowed/],
  [`PREPARE TRANSACTION 'x'`, /two-phase commit/],
  [`COMMIT PREPARED 'x'`, /two-phase commit/],
  [`ALTER SYSTEM SET log_statement = 'none'`, /ALTER SYSTEM/],
  [`SET default_transaction_read_only = off`, /never allowed/],
  [`SET transaction_read_only = off`, /never allowed/],
  [`SET row_security = off`, /never allowed/],
  [`SET standard_conforming_strings = off`, /standard_conforming_strings is never allowed/],
  [`SET backslash_quote = on`, /never allowed/],
  [`SET session_replication_role = replica`, /never allowed/],
  [`SET client_encoding = 'SJIS'`, /client_encoding can only be UTF8/],
  [`SET NAMES 'BIG5'`, /client_encoding can only be UTF8/],
  [`SET client_encoding TO 'latin1'`, /UTF8/],
  [`SET statement_timeout = 0`, /statement_timeout must be between/],
  [`SET statement_timeout = '0'`, /statement_timeout must be between/],
  [`SET statement_timeout = '2h'`, /statement_timeout must be between/],
  [`SET statement_timeout = '0.4ms'`, /statement_timeout must be between/],
  [`SET statement_timeout = '61s'`, /statement_timeout must be between/],
  [`SET LOCAL statement_timeout = '1d'`, /statement_timeout must be between/],
  [`SET work_mem = '1GB'`, /work_mem is not on the policy's settings.allowed list/],
  [`SET jit = off`, /not on the policy's settings.allowed list/],
  [`SET "tracegate.bypass" = 'on'`, /not on the policy's settings.allowed list/],
  [`SHOW ALL`, /SHOW ALL is not allowed/],
  [`SHOW data_directory`, /SHOW data_directory is not allowed/],
  [`SHOW hba_file`, /not allowed/],
  [`SECURITY LABEL ON TABLE traces IS 'x'`, /schema changes/],
  [`CLUSTER traces`, /maintenance/],
  [`REINDEX TABLE traces`, /maintenance/],
  [`IMPORT FOREIGN SCHEMA s FROM SERVER x INTO public`, /schema changes/],
  [`SELECT 1; DELETE FROM traces`, /DELETE: writes.*statement 2 of 2/],
  [`SELECT * FROM traces WHERE trace_id = 't1'; DROP TABLE traces`, /statement 2 of 2/],
  [`BEGIN; SET ROLE admin; SELECT 1`, /role.*statement 2 of 3/],
  [`SELECT 1; SELECT * FROM customers`, /customers.*statement 2 of 2/],
];

const HOUSEKEEPING: readonly string[] = [
  'BEGIN',
  'BEGIN READ ONLY',
  'BEGIN ISOLATION LEVEL REPEATABLE READ',
  'START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE',
  'COMMIT',
  'COMMIT AND CHAIN',
  'END',
  'ROLLBACK',
  'ABORT',
  'SAVEPOINT sp1',
  'RELEASE SAVEPOINT sp1',
  'ROLLBACK TO SAVEPOINT sp1',
  `SET application_name = 'agent-runner'`,
  `SET SESSION application_name TO 'x'`,
  'SET extra_float_digits = 3',
  'SET DateStyle = ISO, MDY',
  `SET TIME ZONE 'UTC'`,
  `SET timezone TO 'Europe/Paris'`,
  `SET client_encoding = 'UTF8'`,
  `SET client_encoding TO 'utf-8'`,
  `SET NAMES 'utf8'`,
  `SET statement_timeout = '30s'`,
  'SET statement_timeout = 5000',
  `SET statement_timeout = '1min'`,
  `SET LOCAL statement_timeout = '5s'`,
  'SET statement_timeout TO DEFAULT',
  `SET intervalstyle = 'iso_8601'`,
  `SET bytea_output = 'hex'`,
  'SET client_min_messages = warning',
  'RESET application_name',
  'RESET statement_timeout',
  'RESET ALL',
  'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ',
  'SET TRANSACTION READ ONLY',
  'SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED',
  'SHOW server_version',
  'SHOW TRANSACTION ISOLATION LEVEL',
  'SHOW standard_conforming_strings',
  'SHOW application_name',
  'SHOW TimeZone',
  'SHOW client_encoding',
  'DISCARD ALL',
  'DISCARD PLANS',
  'DEALLOCATE ALL',
  'DEALLOCATE PREPARE p1',
  'SELECT 1',
  'select 1 as ok',
  'SELECT version()',
  'SELECT pg_catalog.version()',
  'SELECT current_schema()',
  'SELECT current_schema',
  'SELECT current_database(), current_catalog',
  `SELECT now(), current_timestamp, 'a'::text, 1 + 1`,
  `SELECT * FROM generate_series(1, 3) g`,
  `VALUES (1, 'a'), (2, 'b')`,
  `WITH x AS (SELECT 1 AS a) SELECT a FROM x`,
  '',
  '   ',
  ';',
  '-- just a comment',
  '/* just a comment */',
  'SELECT',
  'BEGIN; SELECT 1; COMMIT',
];

const FUNCTION_ATTACKS: readonly (readonly [string, RegExp])[] = [
  [`SELECT pg_read_file('/etc/passwd')`, /pg_read_file is not allowed: it reads or writes server files/],
  [`SELECT pg_catalog.pg_read_file('/etc/passwd')`, /pg_read_file is not allowed/],
  [`SELECT pg_read_binary_file('/etc/passwd')`, /server files/],
  [`SELECT pg_ls_dir('.')`, /server files/],
  [`SELECT * FROM pg_ls_dir('.') AS f`, /server files/],
  [`SELECT pg_stat_file('postgresql.conf')`, /server files/],
  [`SELECT dblink('host=evil', 'SELECT 1')`, /opens connections/],
  [`SELECT * FROM dblink('dbname=demo', 'SELECT * FROM customers') AS t(a text)`, /opens connections/],
  [`SELECT query_to_xml('SELECT * FROM customers', true, true, '')`, /runs a string as SQL/],
  [`SELECT table_to_xml('customers', true, true, '')`, /runs a string as SQL or reads whole tables/],
  [`SELECT cursor_to_xml('c', 10, true, true, '')`, /runs a string as SQL/],
  [`SELECT database_to_xml(true, true, '')`, /runs a string as SQL/],
  [`SELECT set_config('search_path', 'evil', false)`, /set_config is not allowed: it reads or changes server settings/],
  [`SELECT current_setting('tracegate.secret')`, /reads or changes server settings/],
  [`SELECT pg_sleep(10)`, /pg_sleep is not allowed: it sleeps/],
  [`SELECT pg_sleep_for('1 minute')`, /sleeps/],
  [`SELECT * FROM traces WHERE trace_id = 't1' AND pg_sleep(1) IS NOT NULL`, /sleeps/],
  [`SELECT * FROM traces WHERE trace_id = 't1' ORDER BY pg_sleep(1)`, /sleeps/],
  [`SELECT lo_import('/etc/passwd')`, /server files/],
  [`SELECT lo_get(1234)`, /large objects/],
  [`SELECT loread(lo_open(1234, 262144), 100)`, /large objects/],
  [`SELECT pg_terminate_backend(1)`, /signals server processes/],
  [`SELECT pg_cancel_backend(1)`, /signals server processes/],
  [`SELECT pg_reload_conf()`, /server settings/],
  [`SELECT pg_advisory_lock(1)`, /takes locks or transaction ids/],
  [`SELECT txid_current()`, /takes locks or transaction ids/],
  [`SELECT pg_current_xact_id()`, /takes locks/],
  [`SELECT nextval('seq')`, /changes session state/],
  [`SELECT setval('seq', 1)`, /changes session state/],
  [`SELECT setseed(0.5)`, /changes session state/],
  [`SELECT pg_notify('ch', 'x')`, /sends notifications/],
  [`SELECT pg_logical_emit_message(true, 'x', 'y')`, /replication/],
  [`SELECT current_user`, /current_user is not allowed: it reveals the proxy's upstream role/],
  [`SELECT session_user`, /upstream role/],
  [`SELECT pg_backend_pid()`, /reads server state/],
  [`SELECT inet_server_addr()`, /reads server state/],
  [`SELECT pg_get_functiondef('f'::regproc)`, /reveals server-side code/],
  [`SELECT public.my_func(trace_id) FROM traces WHERE trace_id = 't1'`, /function public\.my_func is not allowed: only built-in functions/],
  [`SELECT evil.lower('x')`, /only built-in functions/],
  [`SELECT repeat('x', 1000000000)`, /repeat is not on the allow-list/],
  [`SELECT xmlparse(document '<a/>')`, /XmlExpr/],
  [`SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x text)`, /XMLTABLE/],
  [`SELECT 'x' OPERATOR(public.===) 'y'`, /operator public\.=== is not allowed/],
  [`SELECT * FROM traces WHERE trace_id OPERATOR(public.=) 't1'`, /operator public\.= is not allowed/],
  [`SELECT 1 <<->> 2`, /does not parse|operator <<->> is not on the allow-list/],
  [`SELECT 'x'::public.mytype`, /type public\.mytype is not allowed/],
  [`SELECT '(1)'::customers`, /type customers is not on the allow-list/],
  [`SELECT 'x'::xml`, /type xml is not on the allow-list/],
  [`SELECT * FROM jsonb_to_record('{}') AS r(a public.evil_domain)`, /type public\.evil_domain/],
  [`SELECT * FROM traces WHERE trace_id = 't1' ORDER BY trace_id USING OPERATOR(public.<)`, /operator public\.< is not allowed/],
  [`SELECT pg_catalog.pg_sleep(0) FROM traces WHERE trace_id = 't1'`, /sleeps/],
  [`SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM traces WHERE trace_id = 't1'`, /sleeps/],
  [`SELECT ARRAY(SELECT pg_read_file('x'))`, /server files/],
];

const CATALOG_ATTACKS: readonly (readonly [string, RegExp])[] = [
  [`SELECT rolname, rolpassword FROM pg_authid`, /pg_authid is never readable: it holds password hashes/],
  [`SELECT * FROM pg_shadow`, /never readable/],
  [`SELECT * FROM pg_catalog.pg_user_mapping`, /foreign-server credentials/],
  [`SELECT * FROM pg_user_mappings`, /foreign-server credentials/],
  [`SELECT * FROM pg_statistic`, /sampled column values/],
  [`SELECT most_common_vals FROM pg_stats WHERE tablename = 'customers'`, /pg_stats is never readable/],
  [`SELECT query FROM pg_stat_activity`, /other sessions' queries/],
  [`SELECT data FROM pg_largeobject`, /large object data/],
  [`SELECT * FROM pg_settings`, /server settings/],
  [`SELECT * FROM pg_roles`, /pg_roles is not readable: only type metadata/],
  [`SELECT * FROM pg_database`, /not readable/],
  [`SELECT * FROM information_schema.tables`, /information_schema\.tables is not readable/],
  [`SELECT prosrc FROM pg_proc WHERE proname = 'f'`, /column pg_catalog\.pg_proc\.prosrc is never readable/],
  [`SELECT p.proconfig FROM pg_proc p`, /pg_proc\.proconfig is never readable/],
  [`SELECT * FROM pg_proc`, /whole rows of pg_catalog\.pg_proc/],
  [`SELECT p FROM pg_proc p`, /whole rows of pg_catalog\.pg_proc/],
  [`SELECT to_jsonb(p) FROM pg_proc p`, /whole rows of pg_catalog\.pg_proc/],
  [`SELECT proname FROM pg_proc WHERE prosrc LIKE '%password%'`, /prosrc is never readable/],
  [`SELECT attmissingval FROM pg_attribute`, /attmissingval is never readable/],
  [`SELECT reltuples FROM pg_class WHERE relname = 'customers'`, /reltuples is never readable/],
  [`SELECT relacl FROM pg_class`, /relacl/],
  [`SELECT x.prosrc FROM (SELECT * FROM pg_proc) x`, /pg_proc/],
  [`SELECT typname FROM pg_type JOIN traces t ON true WHERE t.trace_id = 't1'`, /trace tables or type metadata catalogs, not both/],
  [`SELECT relname FROM pg_class UNION SELECT email FROM customers`, /customers/],
  [`SELECT * FROM pg_temp.pg_type`, /pg_temp\.pg_type is not a trace table/],
  [`SELECT * FROM public.pg_type`, /public\.pg_type is not readable/],
  [`SELECT typname FROM pg_type WHERE typname = 'x' AND EXISTS (SELECT 1 FROM pg_authid)`, /pg_authid/],
  [`WITH pg_type AS (SELECT 1) SELECT * FROM pg_type`, /shadows a table name/],
];

describe('decide: always blocked', () => {
  for (const [sql, reason] of BLOCKED) {
    it(`denies ${sql}`, () => {
      const d = run(sql);
      expect(d.outcome, `${sql} => ${d.reason}`).toBe('deny');
      expect(d).toMatchObject({ sqlstate: '42501' });
      expect(d.reason).toMatch(reason);
    });
  }
});

describe('decide: housekeeping without a grant', () => {
  for (const sql of HOUSEKEEPING) {
    it(`allows ${JSON.stringify(sql)}`, () => {
      const d = run(sql);
      expect(d, d.reason).toMatchObject({ outcome: 'allow', category: 'housekeeping' });
    });
  }
});

describe('decide: driver type introspection is housekeeping', () => {
  for (const [driver, sql] of Object.entries(DRIVER_INTROSPECTION)) {
    it(driver, () => {
      const d = run(sql, { params: ['1', '2', '3'] });
      expect(d, d.reason).toMatchObject({ outcome: 'allow', category: 'housekeeping' });
    });
  }
});

describe('decide: function, operator and type allow-lists', () => {
  for (const [sql, reason] of FUNCTION_ATTACKS) {
    it(`denies ${sql}`, () => {
      const d = run(sql);
      expect(d.outcome, `${sql} => ${d.reason}`).toBe('deny');
      expect(d.reason).toMatch(reason);
    });
  }
});

describe('decide: catalogs', () => {
  for (const [sql, reason] of CATALOG_ATTACKS) {
    it(`denies ${sql}`, () => {
      const d = run(sql);
      expect(d.outcome, `${sql} => ${d.reason}`).toBe('deny');
      expect(d.reason).toMatch(reason);
    });
  }
});
