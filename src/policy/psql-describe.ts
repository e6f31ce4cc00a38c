// psql's describe meta-commands (\d, \dt, \dv, \di, \d NAME, \dn ...) as allowed reads of
// catalog structure. psql builds these statements from fixed texts (describe.c), so
// they are recognised here by their exact text, as PostgreSQL 15's psql sends them, with
// only the parts psql fills in left variable:
//
//   ⟨oid⟩      a relation's OID, as a quoted string of digits: '16385'
//   ⟨pattern⟩  a name pattern psql made from the command's argument: '^(traces)$'
//              (any characters but a backslash, with quotes doubled as in SQL)
//   ⟨kinds⟩    the relkind list of a listing: 'r','p',''
//
// Nothing else may differ: not a space, not a comment. A statement matched here reads
// only pg_catalog relations (checked again below) and calls only what psql's own text
// calls, so it exposes the structure of a table (columns, types, defaults, indexes,
// constraints, policies, triggers, publications, partitions) and role names, never its
// rows, statistics, sizes, options or secrets. Because a statement names its relation by
// OID, which the pure policy cannot map to a table, the structure of any table can be
// described this way, as pg_class and pg_attribute already let every driver read any
// table's name and columns.
//
// Other psql versions send other texts: they are decided by the ordinary rules (which
// refuse the catalogs these read) until their texts are captured (`psql -E`) and added.
// \d+ (storage options, sizes) and \d of a view (its definition) stay refused on purpose.
import type { SelectFacts } from '../sql/facts.js';

const SLOTS: Readonly<Record<string, string>> = {
  '⟨oid⟩': "'\\d{1,10}'",
  '⟨pattern⟩': "'(?:[^'\\\\]|'')*'",
  '⟨kinds⟩': "(?:'[A-Za-z]',)*''",
};

// ---- listings: \d, \dt, \dv, \dm, \ds, \di, with or without a pattern -------------

const LIST_HEAD = `SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"`;
const LIST_FROM = `
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`;
const LIST_AM = `
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam`;
const LIST_INDEX_COLUMN = `,
  c2.relname as "Table"`;
const LIST_INDEX_JOINS = `
     LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
     LEFT JOIN pg_catalog.pg_class c2 ON i.indrelid = c2.oid`;

// What psql adds after `WHERE c.relkind IN (...)`: no pattern (user schemas, visible
// relations), a name pattern, a schema pattern, or both.
const LIST_FILTERS = [
  `
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)`,
  `
  AND c.relname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)`,
  `
  AND n.nspname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default`,
  `
  AND c.relname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default
  AND n.nspname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default`,
];

function listings(): [string, string][] {
  const out: [string, string][] = [];
  const shapes: [string, string, string][] = [
    ['relations', '', LIST_AM],
    ['views and sequences', '', ''],
    ['indexes', LIST_INDEX_COLUMN, LIST_AM + LIST_INDEX_JOINS],
  ];
  for (const [what, column, joins] of shapes) {
    for (const filter of LIST_FILTERS) {
      out.push([`list ${what}`, `${LIST_HEAD}${column}${LIST_FROM}${joins}\nWHERE c.relkind IN (⟨kinds⟩)${filter}\nORDER BY 1,2;`]);
    }
  }
  return out;
}

// ---- \d NAME: find the relations, then describe each by OID -----------------------

const LOOKUP_FILTERS = [
  `c.relname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)`,
  `c.relname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default
  AND n.nspname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default`,
  `n.nspname OPERATOR(pg_catalog.~) ⟨pattern⟩ COLLATE pg_catalog.default`,
];

function lookups(): [string, string][] {
  return LOOKUP_FILTERS.map((filter) => [
    'find relations by name',
    `SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE ${filter}
ORDER BY 2, 3;`,
  ]);
}

// The queries of `\d NAME` for an ordinary table, in psql's order. (`\d+ NAME` also reads
// the table's storage options, pg_class.reloptions, which stay unreadable.)
const TABLE_DETAILS: readonly [string, string][] = [
  ['table facts', `SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
FROM pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
WHERE c.oid = ⟨oid⟩;`],
  ['columns', `SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
  a.attidentity,
  a.attgenerated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ⟨oid⟩ AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;`],
  ['indexes', `SELECT c2.relname, i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
  pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable, condeferred, i.indisreplident, c2.reltablespace
FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
  LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid AND contype IN ('p','u','x'))
WHERE c.oid = ⟨oid⟩ AND c.oid = i.indrelid AND i.indexrelid = c2.oid
ORDER BY i.indisprimary DESC, c2.relname;`],
  ['check constraints', `SELECT r.conname, pg_catalog.pg_get_constraintdef(r.oid, true)
FROM pg_catalog.pg_constraint r
WHERE r.conrelid = ⟨oid⟩ AND r.contype = 'c'
ORDER BY 1;`],
  ['foreign keys', `SELECT true as sametable, conname,
  pg_catalog.pg_get_constraintdef(r.oid, true) as condef,
  conrelid::pg_catalog.regclass AS ontable
FROM pg_catalog.pg_constraint r
WHERE r.conrelid = ⟨oid⟩ AND r.contype = 'f'
     AND conparentid = 0
ORDER BY conname`],
  ['referenced by', `SELECT conname, conrelid::pg_catalog.regclass AS ontable,
       pg_catalog.pg_get_constraintdef(oid, true) AS condef
  FROM pg_catalog.pg_constraint c
 WHERE confrelid IN (SELECT pg_catalog.pg_partition_ancestors(⟨oid⟩)
                     UNION ALL VALUES (⟨oid⟩::pg_catalog.regclass))
       AND contype = 'f' AND conparentid = 0
ORDER BY conname;`],
  ['row-level security policies', `SELECT pol.polname, pol.polpermissive,
  CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
  CASE pol.polcmd
    WHEN 'r' THEN 'SELECT'
    WHEN 'a' THEN 'INSERT'
    WHEN 'w' THEN 'UPDATE'
    WHEN 'd' THEN 'DELETE'
    END AS cmd
FROM pg_catalog.pg_policy pol
WHERE pol.polrelid = ⟨oid⟩ ORDER BY 1;`],
  ['extended statistics', `SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, stxname,
pg_catalog.pg_get_statisticsobjdef_columns(oid) AS columns,
  'd' = any(stxkind) AS ndist_enabled,
  'f' = any(stxkind) AS deps_enabled,
  'm' = any(stxkind) AS mcv_enabled,
stxstattarget
FROM pg_catalog.pg_statistic_ext
WHERE stxrelid = ⟨oid⟩
ORDER BY nsp, stxname;`],
  ['publications', `SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
     JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
WHERE pc.oid =⟨oid⟩ and pg_catalog.pg_relation_is_publishable(⟨oid⟩)
UNION
SELECT pubname
     , pg_get_expr(pr.prqual, c.oid)
     , (CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT string_agg(attname, ', ')
           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
                pg_catalog.pg_attribute
          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
        ELSE NULL END) FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
WHERE pr.prrelid = ⟨oid⟩
UNION
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable(⟨oid⟩)
ORDER BY 1;`],
  ['triggers', `SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid, true), t.tgenabled, t.tgisinternal,
  CASE WHEN t.tgparentid != 0 THEN
    (SELECT u.tgrelid::pg_catalog.regclass
     FROM pg_catalog.pg_trigger AS u,
          pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth)
     WHERE u.tgname = t.tgname AND u.tgrelid = a.relid
           AND u.tgparentid = 0
     ORDER BY a.depth LIMIT 1)
  END AS parent
FROM pg_catalog.pg_trigger t
WHERE t.tgrelid = ⟨oid⟩ AND (NOT t.tgisinternal OR (t.tgisinternal AND t.tgenabled = 'D'))
ORDER BY 1;`],
  ['inherits from', `SELECT c.oid::pg_catalog.regclass
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhparent AND i.inhrelid = ⟨oid⟩
  AND c.relkind != 'p' AND c.relkind != 'I'
ORDER BY inhseqno;`],
  ['partitions / child tables', `SELECT c.oid::pg_catalog.regclass, c.relkind, inhdetachpending, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhrelid AND i.inhparent = ⟨oid⟩
ORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::pg_catalog.regclass::pg_catalog.text;`],
];

const SCHEMAS: [string, string] = [
  'list schemas',
  `SELECT n.nspname AS "Name",
  pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1;`,
];

// What these statements read; anything else in a matched statement is a bug: refuse.
const DESCRIBE_CATALOGS = new Set([
  'pg_class', 'pg_namespace', 'pg_am', 'pg_attribute', 'pg_attrdef', 'pg_collation', 'pg_type', 'pg_index',
  'pg_constraint', 'pg_policy', 'pg_roles', 'pg_statistic_ext', 'pg_publication', 'pg_publication_namespace',
  'pg_publication_rel', 'pg_trigger', 'pg_inherits',
]);

interface Template {
  readonly what: string;
  /** The template's text up to its first slot: a statement that does not start with it cannot match. */
  readonly prefix: string;
  readonly pattern: RegExp;
}

function compile([what, text]: [string, string]): Template {
  // A trailing semicolon is the statement's end, not part of it: psql sends some with one.
  const body = text.replace(/;$/, '');
  let source = body.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const [slot, regex] of Object.entries(SLOTS)) source = source.split(slot).join(regex);
  const slotAt = Math.min(...Object.keys(SLOTS).map((slot) => body.indexOf(slot)).filter((i) => i !== -1));
  return { what, prefix: body.slice(0, slotAt), pattern: new RegExp(`^${source};?$`) };
}

const TEMPLATES: readonly Template[] = [...listings(), ...lookups(), ...TABLE_DETAILS, SCHEMAS].map(compile);

/**
 * The psql describe query this statement is, by exact text (e.g. "psql \d: columns"), or
 * null. Only statements that read nothing but pg_catalog's structure catalogs match.
 */
export function psqlDescribe(facts: SelectFacts): string | null {
  // Facts are cached by text and immutable: one match per distinct statement.
  const hit = memo.get(facts);
  if (hit !== undefined) return hit;
  const result = match(facts);
  memo.set(facts, result);
  return result;
}

const memo = new WeakMap<SelectFacts, string | null>();

function match(facts: SelectFacts): string | null {
  const text = facts.text;
  // Cheap rejection first: every one of them starts like this and is a few KB at most.
  if (text.length > 4096 || !text.startsWith('SELECT ')) return null;
  // Every statement is checked here: the prefix test spares the regexes for all but psql's.
  const hit = TEMPLATES.find((t) => text.startsWith(t.prefix) && t.pattern.test(text));
  if (!hit) return null;
  // Defence in depth: the texts above read only these catalogs, schema-qualified.
  for (const e of facts.entries) {
    if (e.type !== 'relation') continue;
    if (e.relation.schema !== 'pg_catalog' || !DESCRIBE_CATALOGS.has(e.relation.name)) return null;
  }
  if (facts.params.length) return null;
  return `psql \\d: ${hit.what}`;
}
