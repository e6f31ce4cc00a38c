// Typed access to libpg-query's JSON parse tree for the analysers. The tree is untrusted
// shape-wise (a new parser release may add fields), so every accessor checks what it
// reads and every node body is checked against the exact set of fields the analyser
// understands: an unknown field or node type raises Unanalysable, and the statement is
// denied. This module reads trees; it must never decide anything.

export type AstBody = { readonly [field: string]: unknown };

/** A construct the analyser does not understand: the statement is denied (fail closed). */
export class Unanalysable extends Error {
  constructor(readonly construct: string) {
    super(`the statement uses ${construct}, which the policy cannot analyse`);
    this.name = 'Unanalysable';
  }
}

export const BlockedCategory = {
  write: 'write',
  copy: 'copy',
  ddl: 'ddl',
  privilege: 'privilege',
  role: 'role',
  procedural: 'procedural',
  prepared: 'prepared',
  cursor: 'cursor',
  notify: 'notify',
  load: 'load',
  maintenance: 'maintenance',
  explain: 'explain',
  lock: 'lock',
  transaction: 'transaction',
  into: 'into',
  locking: 'locking',
  other: 'other',
} as const;
export type BlockedCategory = (typeof BlockedCategory)[keyof typeof BlockedCategory];

/** A construct that is always blocked whatever the policy says (SPEC section 2). */
export class Blocked extends Error {
  constructor(
    readonly command: string,
    readonly category: BlockedCategory,
    readonly why: string,
  ) {
    super(why);
    this.name = 'Blocked';
  }
}

export function isObject(value: unknown): value is AstBody {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A wrapped node `{ "SelectStmt": {...} }` as its type name and body. */
export function unwrap(node: unknown): { readonly type: string; readonly body: AstBody } {
  if (!isObject(node)) throw new Unanalysable('a malformed parse tree');
  const keys = Object.keys(node);
  const type = keys[0];
  if (keys.length !== 1 || type === undefined) throw new Unanalysable('a malformed parse tree');
  const body = node[type];
  if (!isObject(body)) throw new Unanalysable(`a malformed ${type} node`);
  return { type, body };
}

/** Field whitelists per node type, compiled once. */
export function fieldSet(...fields: string[]): ReadonlySet<string> {
  return new Set(fields);
}

/** Rejects any field the analyser was not written for. */
export function checkFields(type: string, body: AstBody, allowed: ReadonlySet<string>): void {
  for (const key in body) {
    if (!allowed.has(key)) throw new Unanalysable(`${type}.${key}`);
  }
}

export function list(value: unknown, what: string): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Unanalysable(`a malformed ${what}`);
  return value;
}

export function optionalString(value: unknown, what: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') throw new Unanalysable(`a malformed ${what}`);
  return value;
}

export function string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Unanalysable(`a malformed ${what}`);
  return value;
}

export function bool(value: unknown): boolean {
  return value === true;
}

export function int(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new Unanalysable(`a malformed ${what}`);
  return value;
}

/** A `{ "String": { "sval": "x" } }` node as "x". */
export function stringNode(node: unknown, what: string): string {
  const { type, body } = unwrap(node);
  if (type !== 'String') throw new Unanalysable(`${type} in ${what}`);
  checkFields('String', body, STRING_FIELDS);
  return body['sval'] === undefined ? '' : string(body['sval'], what);
}

const STRING_FIELDS = fieldSet('sval');

/** A list of String nodes, as in qualified names. */
export function nameList(value: unknown, what: string): string[] {
  return list(value, what).map((n) => stringNode(n, what));
}

/** An optional raw (unwrapped) body such as Alias or TypeName. */
export function optionalBody(value: unknown, what: string): AstBody | null {
  if (value === undefined) return null;
  if (!isObject(value)) throw new Unanalysable(`a malformed ${what}`);
  return value;
}
