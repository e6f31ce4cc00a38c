// asyncpg (Debian python3-asyncpg) as a real process: test/compat-fixtures/python/asyncpg_compat.py.
import { join } from 'node:path';
import { available, FIXTURES, PYTHON, runProgram } from './harness.js';
import { programSuite } from './program-suite.js';

programSuite({
  id: 'asyncpg',
  name: 'asyncpg',
  source: 'test/integration/compat/asyncpg.test.ts',
  how: 'real process (Debian python3-asyncpg)',
  available: () => available(PYTHON, ['-c', 'import asyncpg']),
  missing: 'apt-get install python3-asyncpg',
  expiresIn: 4,
  run: (task) =>
    runProgram(PYTHON, [join(FIXTURES, 'python/asyncpg_compat.py')], { env: { TRACEGATE_COMPAT: JSON.stringify(task) }, cwd: join(FIXTURES, 'python') }),
  version: (login) => `${String(login['version'])} (Debian python3-asyncpg)`,
  denialClass: /^asyncpg\.exceptions\.InsufficientPrivilegeError$/,
  prepared: 'always (named statements, statement cache)',
  binary: 'always (binary parameters and results)',
  expiry: {
    errorClass: /^asyncpg\.exceptions\.ConnectionDoesNotExistError$/,
    exposesSqlstate: false,
    note: 'asyncpg reports a FATAL that closes the connection as ConnectionDoesNotExistError ("connection was closed in the middle of operation"), as it does for PostgreSQL\'s own FATALs.',
  },
  extra: [{ check: 'transaction', name: 'Denial inside conn.transaction()' }],
  notes: [
    'asyncpg sends client_encoding as \'utf-8\' (quoted) and text parameters in binary format, typed by the server\'s ParameterDescription; both work since the fixes that came with this suite.',
  ],
});
