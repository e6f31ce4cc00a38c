// Facts for every statement that is not a SELECT: transaction control, SET / RESET /
// SHOW, DISCARD, DEALLOCATE, and the always-blocked commands, named so that a denial
// can say what was refused and why. Anything not listed here is blocked as unknown:
// this is an allow-list, and a new statement type in a parser upgrade is refused.
import {
  Blocked,
  BlockedCategory,
  bool,
  checkFields,
  fieldSet,
  isObject,
  list,
  optionalString,
  string,
  unwrap,
  Unanalysable,
  type AstBody,
} from './ast.js';
import type { SettingValue, StatementFacts } from './facts.js';

const BLOCKED_COMMANDS: Readonly<Record<string, readonly [string, BlockedCategory]>> = {
  InsertStmt: ['INSERT', BlockedCategory.write],
  UpdateStmt: ['UPDATE', BlockedCategory.write],
  DeleteStmt: ['DELETE', BlockedCategory.write],
  MergeStmt: ['MERGE', BlockedCategory.write],
  TruncateStmt: ['TRUNCATE', BlockedCategory.write],
  CopyStmt: ['COPY', BlockedCategory.copy],
  GrantStmt: ['GRANT/REVOKE', BlockedCategory.privilege],
  GrantRoleStmt: ['GRANT/REVOKE role', BlockedCategory.privilege],
  AlterDefaultPrivilegesStmt: ['ALTER DEFAULT PRIVILEGES', BlockedCategory.privilege],
  ReassignOwnedStmt: ['REASSIGN OWNED', BlockedCategory.privilege],
  DropOwnedStmt: ['DROP OWNED', BlockedCategory.privilege],
  CreateRoleStmt: ['CREATE ROLE', BlockedCategory.privilege],
  AlterRoleStmt: ['ALTER ROLE', BlockedCategory.privilege],
  AlterRoleSetStmt: ['ALTER ROLE SET', BlockedCategory.privilege],
  DropRoleStmt: ['DROP ROLE', BlockedCategory.privilege],
  DoStmt: ['DO', BlockedCategory.procedural],
  CallStmt: ['CALL', BlockedCategory.procedural],
  PrepareStmt: ['PREPARE', BlockedCategory.prepared],
  ExecuteStmt: ['EXECUTE', BlockedCategory.prepared],
  DeclareCursorStmt: ['DECLARE CURSOR', BlockedCategory.cursor],
  FetchStmt: ['FETCH/MOVE', BlockedCategory.cursor],
  ClosePortalStmt: ['CLOSE', BlockedCategory.cursor],
  ListenStmt: ['LISTEN', BlockedCategory.notify],
  NotifyStmt: ['NOTIFY', BlockedCategory.notify],
  UnlistenStmt: ['UNLISTEN', BlockedCategory.notify],
  LoadStmt: ['LOAD', BlockedCategory.load],
  VacuumStmt: ['VACUUM/ANALYZE', BlockedCategory.maintenance],
  CheckPointStmt: ['CHECKPOINT', BlockedCategory.maintenance],
  ReindexStmt: ['REINDEX', BlockedCategory.maintenance],
  ClusterStmt: ['CLUSTER', BlockedCategory.maintenance],
  RefreshMatViewStmt: ['REFRESH MATERIALIZED VIEW', BlockedCategory.maintenance],
  LockStmt: ['LOCK', BlockedCategory.lock],
  ConstraintsSetStmt: ['SET CONSTRAINTS', BlockedCategory.other],
  AlterSystemStmt: ['ALTER SYSTEM', BlockedCategory.ddl],
  CreateTableAsStmt: ['CREATE TABLE AS', BlockedCategory.ddl],
  IndexStmt: ['CREATE INDEX', BlockedCategory.ddl],
  ViewStmt: ['CREATE VIEW', BlockedCategory.ddl],
  RuleStmt: ['CREATE RULE', BlockedCategory.ddl],
  DefineStmt: ['CREATE (aggregate, operator, type)', BlockedCategory.ddl],
  CompositeTypeStmt: ['CREATE TYPE', BlockedCategory.ddl],
};

const CATEGORY_WHY: Readonly<Record<BlockedCategory, string>> = {
  write: 'writes are always blocked: tracegate only reads',
  copy: 'COPY is always blocked: read trace rows with a pinned SELECT',
  ddl: 'schema changes are always blocked',
  privilege: 'privilege and role management is always blocked',
  role: 'changing the session role is always blocked',
  procedural: 'server-side code is always blocked',
  prepared: 'SQL-level PREPARE/EXECUTE is blocked: use the extended protocol (Parse/Bind/Execute)',
  cursor: 'cursors are blocked: a cursor outlives the statement its grant covers',
  notify: 'LISTEN/NOTIFY is blocked',
  load: 'loading server modules is always blocked',
  maintenance: 'maintenance commands are always blocked',
  explain: 'EXPLAIN is blocked',
  lock: 'explicit locks are blocked',
  transaction: 'two-phase commit is blocked',
  into: 'SELECT INTO creates a table and is always blocked',
  locking: 'locking clauses (FOR UPDATE/SHARE) are blocked: the proxy only reads',
  other: 'this statement is not allowed through tracegate',
};

export function blocked(command: string, category: BlockedCategory, why = CATEGORY_WHY[category]): Blocked {
  return new Blocked(command, category, `${command}: ${why}`);
}

/** Facts for a non-SELECT statement (SELECT is handled by the select analyser). */
export function utilityFacts(type: string, body: AstBody, text: string): StatementFacts {
  switch (type) {
    case 'TransactionStmt':
      return transactionFacts(body, text);
    case 'VariableSetStmt':
      return variableSetFacts(body, text);
    case 'VariableShowStmt':
      checkFields(type, body, SHOW_FIELDS);
      return { kind: 'show', name: string(body['name'], 'SHOW').toLowerCase(), text };
    case 'DiscardStmt':
      return discardFacts(body, text);
    case 'DeallocateStmt':
      checkFields(type, body, DEALLOCATE_FIELDS);
      return { kind: 'deallocate', name: optionalString(body['name'], 'DEALLOCATE'), text };
    case 'ExplainStmt':
      return blockedFacts(explainBlock(body), text);
    default: {
      const known = BLOCKED_COMMANDS[type];
      if (known) return blockedFacts(blocked(known[0], known[1]), text);
      if (/^(Create|Alter|Drop|Rename|Comment|SecLabel|Import)/.test(type)) {
        return blockedFacts(blocked(commandName(type), BlockedCategory.ddl), text);
      }
      return blockedFacts(blocked(commandName(type), BlockedCategory.other), text);
    }
  }
}

export function blockedFacts(b: Blocked, text: string): StatementFacts {
  return { kind: 'blocked', command: b.command, category: b.category, reason: b.why, text };
}

function commandName(type: string): string {
  return type
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

// EXPLAIN ANALYZE runs the statement; plain EXPLAIN does not, but its row estimates come
// from pg_statistic, which SPEC section 2 never lets a caller read. Both are refused.
function explainBlock(body: AstBody): Blocked {
  const analyze = list(body['options'], 'EXPLAIN options').some((o) => {
    const { type, body: opt } = unwrap(o);
    return type === 'DefElem' && opt['defname'] === 'analyze';
  });
  return analyze
    ? blocked('EXPLAIN ANALYZE', BlockedCategory.explain, 'EXPLAIN ANALYZE executes the statement outside the policy and is always blocked')
    : blocked('EXPLAIN', BlockedCategory.explain, 'EXPLAIN is blocked: its row estimates reveal table statistics beyond one trace');
}

const TRANSACTION_FIELDS = fieldSet('kind', 'options', 'savepoint_name', 'gid', 'chain', 'location');
const SHOW_FIELDS = fieldSet('name');
const DEALLOCATE_FIELDS = fieldSet('name');
const DISCARD_FIELDS = fieldSet('target');
const SET_FIELDS = fieldSet('kind', 'name', 'args', 'is_local');
const DEFELEM_FIELDS = fieldSet('defname', 'arg', 'defaction', 'location', 'defnamespace');

function transactionFacts(body: AstBody, text: string): StatementFacts {
  checkFields('TransactionStmt', body, TRANSACTION_FIELDS);
  const readWrite = transactionReadWrite(body['options']);
  switch (body['kind']) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return { kind: 'transaction', action: 'begin', readWrite, text };
    case 'TRANS_STMT_COMMIT':
      return { kind: 'transaction', action: 'commit', readWrite: false, text };
    case 'TRANS_STMT_ROLLBACK':
      return { kind: 'transaction', action: 'rollback', readWrite: false, text };
    case 'TRANS_STMT_SAVEPOINT':
      return { kind: 'transaction', action: 'savepoint', readWrite: false, text };
    case 'TRANS_STMT_RELEASE':
      return { kind: 'transaction', action: 'release', readWrite: false, text };
    case 'TRANS_STMT_ROLLBACK_TO':
      return { kind: 'transaction', action: 'rollback-to', readWrite: false, text };
    case 'TRANS_STMT_PREPARE':
      return blockedFacts(blocked('PREPARE TRANSACTION', BlockedCategory.transaction), text);
    case 'TRANS_STMT_COMMIT_PREPARED':
      return blockedFacts(blocked('COMMIT PREPARED', BlockedCategory.transaction), text);
    case 'TRANS_STMT_ROLLBACK_PREPARED':
      return blockedFacts(blocked('ROLLBACK PREPARED', BlockedCategory.transaction), text);
    default:
      throw new Unanalysable(`transaction statement ${String(body['kind'])}`);
  }
}

/** True when the options ask for READ WRITE (transaction_read_only = 0). */
function transactionReadWrite(options: unknown): boolean {
  let readWrite = false;
  for (const o of list(options, 'transaction options')) {
    const { type, body } = unwrap(o);
    if (type !== 'DefElem') throw new Unanalysable(`${type} in transaction options`);
    checkFields('DefElem', body, DEFELEM_FIELDS);
    const name = string(body['defname'], 'transaction option');
    if (name === 'transaction_read_only') {
      const value = settingValue(body['arg']);
      readWrite = !(value.type === 'number' && value.value !== '0');
    } else if (name !== 'transaction_isolation' && name !== 'transaction_deferrable') {
      throw new Unanalysable(`transaction option ${name}`);
    }
  }
  return readWrite;
}

function variableSetFacts(body: AstBody, text: string): StatementFacts {
  checkFields('VariableSetStmt', body, SET_FIELDS);
  const local = bool(body['is_local']);
  switch (body['kind']) {
    case 'VAR_SET_VALUE':
      return { kind: 'set', name: string(body['name'], 'SET').toLowerCase(), values: list(body['args'], 'SET').map(settingValue), local, text };
    case 'VAR_SET_DEFAULT':
      return { kind: 'set', name: string(body['name'], 'SET').toLowerCase(), values: null, local, text };
    case 'VAR_RESET':
      return { kind: 'reset', name: string(body['name'], 'RESET').toLowerCase(), text };
    case 'VAR_RESET_ALL':
      return { kind: 'reset', name: null, text };
    case 'VAR_SET_MULTI': {
      const name = string(body['name'], 'SET');
      const target = name === 'TRANSACTION' ? 'transaction' : name === 'SESSION CHARACTERISTICS' ? 'session' : name === 'TRANSACTION SNAPSHOT' ? 'snapshot' : null;
      if (target === null) throw new Unanalysable(`SET ${name}`);
      const readWrite = target === 'snapshot' ? false : transactionReadWrite(body['args']);
      return { kind: 'set-transaction', target, readWrite, text };
    }
    case 'VAR_SET_CURRENT':
      return blockedFacts(blocked('SET FROM CURRENT', BlockedCategory.other), text);
    default:
      throw new Unanalysable(`SET form ${String(body['kind'])}`);
  }
}

const A_CONST_FIELDS = fieldSet('ival', 'fval', 'boolval', 'sval', 'bsval', 'isnull', 'location');

function settingValue(node: unknown): SettingValue {
  if (!isObject(node)) return { type: 'other' };
  const { type, body } = unwrap(node);
  if (type !== 'A_Const') return { type: 'other' };
  checkFields(type, body, A_CONST_FIELDS);
  const sval = body['sval'];
  if (isObject(sval)) return { type: 'string', value: sval['sval'] === undefined ? '' : string(sval['sval'], 'setting') };
  const ival = body['ival'];
  if (isObject(ival)) return { type: 'number', value: String(ival['ival'] ?? 0) };
  const fval = body['fval'];
  if (isObject(fval)) return { type: 'number', value: string(fval['fval'], 'setting') };
  return { type: 'other' };
}

function discardFacts(body: AstBody, text: string): StatementFacts {
  checkFields('DiscardStmt', body, DISCARD_FIELDS);
  switch (body['target']) {
    case 'DISCARD_ALL':
      return { kind: 'discard', target: 'all', text };
    case 'DISCARD_PLANS':
      return { kind: 'discard', target: 'plans', text };
    case 'DISCARD_SEQUENCES':
      return { kind: 'discard', target: 'sequences', text };
    case 'DISCARD_TEMP':
      return { kind: 'discard', target: 'temp', text };
    default:
      throw new Unanalysable(`DISCARD ${String(body['target'])}`);
  }
}
