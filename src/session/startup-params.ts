// Which client startup parameters reach the upstream, and what tracegate pins there.
// Postgres applies startup parameters before any statement runs, so they are a way
// around the statement policy: `options` can carry any `-c setting`, search_path can
// point a table name at another schema, and a different encoding or lexer setting on
// the server than in our parser is a bypass. Hence an allow-list, with values checked.
import { error as clientError, fatal } from '../errors.js';

const FORWARDED = new Map<string, (value: string) => boolean>([
  ['application_name', (v) => v.length <= 63],
  // Postgres compares encoding names with every non-alphanumeric character removed
  // (clean_encoding_name), so asyncpg's quoted 'utf-8' is UTF8 to it; so it is here.
  // The upstream gets client_encoding=UTF8 whatever the client wrote (below).
  ['client_encoding', (v) => /^(utf8|unicode)$/.test(v.toLowerCase().replace(/[^a-z0-9]/g, ''))],
  ['datestyle', (v) => /^[A-Za-z, ]{1,40}$/.test(v)],
  ['timezone', (v) => /^[A-Za-z0-9_+\-/:. ]{1,64}$/.test(v)],
  ['extra_float_digits', (v) => /^-?[0-3]$/.test(v)],
  ['intervalstyle', (v) => /^(postgres|postgres_verbose|sql_standard|iso_8601)$/i.test(v)],
]);

// Parameters a client sends that carry no settings for the server: consumed here.
const CONSUMED = new Set(['user', 'database']);

export interface PinnedSettings {
  readonly statementTimeoutMs: number;
  readonly searchPath: string;
  readonly readOnly: boolean;
}

export interface FilteredStartup {
  /** What goes to the upstream's StartupMessage besides user and database. */
  readonly upstream: Record<string, string>;
  readonly user: string;
  readonly database: string;
  readonly applicationName: string;
  /** Client parameters that were dropped, for the log (names only, never values). */
  readonly dropped: readonly string[];
}

export function filterStartup(parameters: Readonly<Record<string, string>>, pins: PinnedSettings): FilteredStartup {
  const user = parameters['user'] ?? '';
  const database = parameters['database'] ?? user;
  if (user === '') throw fatal('28000', 'no user name specified in startup packet');
  if (database === '') throw fatal('28000', 'no database name specified in startup packet');
  const replication = parameters['replication'];
  if (replication !== undefined && !/^(false|off|no|0)$/i.test(replication)) {
    throw fatal('0A000', 'replication connections are not supported by tracegate');
  }
  const upstream: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    if (CONSUMED.has(name) || name === 'replication') continue;
    const check = FORWARDED.get(name.toLowerCase());
    if (check === undefined) {
      dropped.push(name);
      continue;
    }
    if (!check(value)) {
      if (name.toLowerCase() === 'client_encoding') throw fatal('0A000', 'tracegate supports client_encoding UTF8 only');
      throw clientError('22023', `invalid value for startup parameter ${name}`);
    }
    upstream[name] = value;
  }
  // pg-protocol's serialize.startup always sends client_encoding=UTF8 itself.
  delete upstream['client_encoding'];
  upstream['options'] = pinnedOptions(pins);
  return { upstream, user, database, applicationName: parameters['application_name'] ?? '', dropped };
}

// These are set as connection options, so they are in force before the first statement
// and `RESET ALL` returns to them rather than to the server's defaults.
//
// enable_seqscan=off: a pin holds only for rows the scan fetches through it. A sequential
// scan (the planner's choice for a small table) fetches every trace's rows and applies
// the conditions as filters in cost order, the pin perhaps last: a condition that fails
// (a strict jsonpath) then runs on another trace's row, and its error tells about it.
// With sequential scans priced out, a trace table is read through its key's index, the
// pin its index condition. (A key with no index is still scanned: index it.)
function pinnedOptions(pins: PinnedSettings): string {
  const settings = [
    `statement_timeout=${Math.round(pins.statementTimeoutMs)}`,
    `search_path=${pins.searchPath}`,
    'standard_conforming_strings=on',
    'row_security=on',
    'enable_seqscan=off',
  ];
  if (pins.readOnly) settings.unshift('default_transaction_read_only=on');
  return settings.map((s) => `-c ${s}`).join(' ');
}
