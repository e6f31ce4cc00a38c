// psycopg 3 (Debian python3-psycopg) as a real process: test/compat-fixtures/python/psycopg3_compat.py.
import { join } from 'node:path';
import { available, FIXTURES, PYTHON, runProgram } from './harness.js';
import { programSuite } from './program-suite.js';

programSuite({
  id: 'psycopg3',
  name: 'psycopg 3',
  source: 'test/integration/compat/psycopg.test.ts',
  how: 'real process (Debian python3-psycopg)',
  available: () => available(PYTHON, ['-c', 'import psycopg']),
  missing: 'apt-get install python3-psycopg',
  expiresIn: 4,
  run: (task) =>
    runProgram(PYTHON, [join(FIXTURES, 'python/psycopg3_compat.py')], { env: { TRACEGATE_COMPAT: JSON.stringify(task) }, cwd: join(FIXTURES, 'python') }),
  version: (login) => `${String(login['version'])} (Debian python3-psycopg)`,
  denialClass: /^psycopg\.errors\.InsufficientPrivilege$/,
  prepared: 'prepare=True',
  binary: 'cursor(binary=True)',
  expiry: {
    errorClass: /^psycopg\.OperationalError$/,
    exposesSqlstate: false,
    note: 'A FATAL that closes the connection reaches psycopg as OperationalError("consuming input failed: <message>") without a SQLSTATE, as it does from PostgreSQL itself; the message says "token expired".',
  },
  extra: [{ check: 'transaction', name: 'Denial inside conn.transaction()' }],
});
