// psycopg2 (Debian python3-psycopg2) as a real process: test/compat-fixtures/python/psycopg2_compat.py.
import { join } from 'node:path';
import { available, FIXTURES, PYTHON, runProgram } from './harness.js';
import { programSuite } from './program-suite.js';

programSuite({
  id: 'psycopg2',
  name: 'psycopg2',
  source: 'test/integration/compat/psycopg2.test.ts',
  how: 'real process (Debian python3-psycopg2)',
  available: () => available(PYTHON, ['-c', 'import psycopg2']),
  missing: 'apt-get install python3-psycopg2',
  expiresIn: 4,
  run: (task) =>
    runProgram(PYTHON, [join(FIXTURES, 'python/psycopg2_compat.py')], { env: { TRACEGATE_COMPAT: JSON.stringify(task) }, cwd: join(FIXTURES, 'python') }),
  version: (login) => `${String(login['version'])} (Debian python3-psycopg2)`,
  denialClass: /^psycopg2\.errors\.InsufficientPrivilege$/,
  prepared: null,
  binary: null,
  expiry: {
    errorClass: /^psycopg2\.OperationalError$/,
    exposesSqlstate: false,
    note: 'psycopg2 reports any FATAL that closes the connection as OperationalError("server closed the connection unexpectedly"), without the server\'s message or SQLSTATE, exactly as it does for PostgreSQL\'s own FATALs; the proxy\'s recording shows the session ended because the token expired.',
  },
  extra: [{ check: 'autocommit', name: 'Denial in autocommit mode' }],
  notes: ['psycopg2 interpolates parameters on the client and sends simple Query messages with text results: prepared statements and binary results do not apply.'],
});
