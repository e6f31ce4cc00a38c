// pgjdbc (Debian libpostgresql-jdbc-java) as a real JVM: test/compat-fixtures/java/CompatCheck.java,
// compiled once per run into a temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { available, FIXTURES, PGJDBC_JAR, runProgram, type CompatTask } from './harness.js';
import { programSuite } from './program-suite.js';

let classes: string | undefined;
function compiled(): string {
  if (classes) return classes;
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-compat-java-'));
  execFileSync('javac', ['-d', dir, '-cp', PGJDBC_JAR, join(FIXTURES, 'java/CompatCheck.java')], { stdio: 'pipe', timeout: 120_000 });
  classes = dir;
  return dir;
}

function javaEnv(task: CompatTask): NodeJS.ProcessEnv {
  const env: Record<string, string> = {
    HOST: task.host,
    PORT: String(task.port),
    USER: task.user,
    DATABASE: task.database,
    TOKEN: task.token,
    EXPIRING_TOKEN: task.expiringToken,
    EXPIRING_AT: String(task.expiringAt),
    FRESH_TOKEN: task.freshToken,
    TRACE_ID: task.traceId,
    OTHER_TRACE_ID: task.otherTraceId,
  };
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [`TRACEGATE_COMPAT_${k}`, v]));
}

programSuite({
  id: 'pgjdbc',
  name: 'pgjdbc (JDBC)',
  source: 'test/integration/compat/pgjdbc.test.ts',
  how: 'real JVM (Debian libpostgresql-jdbc-java, OpenJDK 17)',
  available: () => available('javac', ['-version']) && available('test', ['-r', PGJDBC_JAR]),
  missing: 'apt-get install default-jdk-headless libpostgresql-jdbc-java',
  // The JVM starts and logs in with it first: a little longer than for Python.
  expiresIn: 6,
  prepare: () => void compiled(),
  run: (task) => runProgram('java', ['-cp', `${PGJDBC_JAR}:${compiled()}`, 'CompatCheck'], { env: javaEnv(task) }),
  version: (login) => `${String(login['version'])} (Debian libpostgresql-jdbc-java)`,
  denialClass: /^org\.postgresql\.util\.PSQLException$/,
  prepared: 'prepareThreshold=1',
  binary: 'prepareThreshold=-1 (binary int4, timestamptz)',
  expiry: { errorClass: /^org\.postgresql\.util\.PSQLException$/, exposesSqlstate: true },
  extra: [{ check: 'transaction', name: 'Denial with autoCommit=false, rollback()' }],
});
