// Taking a secret apart in SQL (SPEC section 5; policy/derivation.ts). The detectors
// recognise a secret only when it comes back whole, so a caller whose rule is not
// maskingExempt may not return a trace column's text transformed (sliced, re-cased,
// re-encoded, joined with other text), nor ask pattern or range questions of it that
// reveal it a character at a time. The legitimate shapes the SPEC promises still pass.
import { beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../../src/policy/decide.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { analyze, initSqlParser } from '../../../src/sql/analyze.js';
import { NOW, reader, reviewer, run, TEST_POLICY_YAML, testPolicy } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const PIN = `trace_id = 't1'`;
const S = `FROM trace_steps s WHERE s.${PIN}`;
const T = `FROM trace_steps WHERE ${PIN}`;

/** A piece of the value would come back unrecognised. */
const TRANSFORM = /over public\.trace_steps\.content would return text the masking detectors cannot recognise/;
/** An oracle that searches inside the value. */
const SEARCH = /over public\.trace_steps\.content searches inside a detector-scanned value/;
/** A range comparison against a chosen (text) value. */
const RANGE = /compares public\.trace_steps\.content with a value that could be text/;
/** A comparison or sort against the statement's own values. */
const GUESS = /public\.trace_steps\.content (together )?with values of the statement's own/;
const KEYS = /makes public\.trace_steps\.content a key of a JSON object beside keys of the statement's own/;
const JOINS = /over public\.trace_steps\.content joins (values|text) end to end/;
const CAST = /over public\.trace_steps\.content (turns it into a value the masking detectors cannot recognise|truncates it)/;

type Attack = readonly [sql: string, reason: RegExp];

const ATTACKS: Record<string, readonly Attack[]> = {
  'the demo attack': [
    [
      `SELECT substr(content, strpos(content,'OPENAI_API_KEY=')+15, 12), substr(content, strpos(content,'OPENAI_API_KEY=')+27, 12) FROM trace_steps WHERE trace_id='tr_000001' AND strpos(content,'OPENAI_API_KEY=')>0`,
      /function (substr|strpos) over public\.trace_steps\.content/,
    ],
  ],
  'slicing': [
    [`SELECT substr(content, 10, 12) ${T}`, TRANSFORM],
    [`SELECT substring(content, 10, 12) ${T}`, TRANSFORM],
    [`SELECT substring(content FROM 10 FOR 12) ${T}`, TRANSFORM],
    [`SELECT substring(content FROM 'sk-[A-Za-z0-9]+') ${T}`, TRANSFORM],
    [`SELECT left(content, 20) ${T}`, TRANSFORM],
    [`SELECT right(content, 20) ${T}`, TRANSFORM],
    [`SELECT split_part(content, '=', 2) ${T}`, TRANSFORM],
    [`SELECT overlay(content PLACING ' ' FROM 20 FOR 0) ${T}`, TRANSFORM],
    [`SELECT lpad(content, 20) ${T}`, TRANSFORM],
    [`SELECT rpad(content, 20, '*') ${T}`, TRANSFORM],
    [`SELECT btrim(content, 'OPENAI_KEY=') ${T}`, TRANSFORM],
    [`SELECT ltrim(content) ${T}`, TRANSFORM],
    [`SELECT trim(both 'x' FROM content) ${T}`, TRANSFORM],
    [`SELECT regexp_replace(content, '(.)', '\\1 ', 'g') ${T}`, TRANSFORM],
    [`SELECT regexp_substr(content, 'sk-\\w+') ${T}`, SEARCH],
    [`SELECT regexp_match(content, 'sk-(\\w+)') ${T}`, SEARCH],
    [`SELECT regexp_matches(content, '.', 'g') ${T}`, SEARCH],
    [`SELECT replace(content, 'sk-', 'xx-') ${T}`, TRANSFORM],
    [`SELECT translate(content, 'abc', 'xyz') ${T}`, TRANSFORM],
    [`SELECT reverse(content) ${T}`, TRANSFORM],
    [`SELECT normalize(content, NFKC) ${T}`, TRANSFORM],
  ],
  'a scanned value made a JSON key, then taken apart': [
    // jsonb_set/jsonb_insert create the path's last element as a key: {"<content>": 1}.
    // (Into a document of the trace's own: into '{}', the key is sorted beside chosen ones, below.)
    [`SELECT reverse(jsonb_set(tool_calls->0, ARRAY[content], '1')::text) ${T}`, /over public\.trace_steps\.tool_calls would return text the masking detectors cannot recognise/],
    [`SELECT substr(jsonb_insert(tool_calls->0, ARRAY[content], '1')::text, 3, 5) ${T}`, /over public\.trace_steps\.tool_calls would return text the masking detectors cannot recognise/],
    [`SELECT lower(jsonb_set_lax(tool_calls->0, ARRAY[content], '1')::text) ${T}`, /over public\.trace_steps\.tool_calls would return text the masking detectors cannot recognise/],
    // A chosen key is a value of the statement's own, not data (and jsonb sorts it among the document's keys).
    [`SELECT s.step FROM trace_steps s, jsonb_object_keys(jsonb_set(s.tool_calls->0, '{guess}', s.tool_calls->0)) AS k(k) WHERE s.${PIN} AND s.content >= k.k`, /makes public\.trace_steps\.tool_calls a key of a JSON object/],
  ],
  'a scanned key sorted by jsonb beside keys of the statement\'s own': [
    // jsonb keeps an object's keys sorted, and returns them (and their values) in that
    // order: jsonb_build_object(content, 0, 'guess', 1) lists 0 first iff content < 'guess'.
    [`SELECT jsonb_build_object(content, 0, 'OPENAI_API_KEY=sk-M', 1) ${T}`, KEYS],
    [`SELECT jsonb_path_query_first(jsonb_build_object(content, 0, $2, 1), '$.*') ${T}`, KEYS],
    [`SELECT jsonb_build_object(content, 0, 4111111111111111, 1) ${T}`, KEYS],
    [`SELECT jsonb_build_object(content, 0, length(role), 1) ${T}`, KEYS],
    [`SELECT jsonb_build_object(coalesce(content, 'g'), 0) ${T}`, KEYS],
    [`SELECT jsonb_build_object(VARIADIC ARRAY[content, '0', 'g', '1']) ${T}`, KEYS],
    // json keeps keys as given, but becomes jsonb in to_jsonb, jsonb_agg, a jsonb builder.
    [`SELECT to_jsonb(json_build_object(content, 0, 'g', 1)) ${T}`, KEYS],
    [`SELECT jsonb_object(ARRAY[content, 'a', 'g', 'b']) ${T}`, KEYS],
    [`SELECT jsonb_object(ARRAY[content, 'g'], ARRAY['a', 'b']) ${T}`, KEYS],
    [`SELECT json_object(ARRAY[content, 'g'], ARRAY['a', 'b']) ${T}`, KEYS],
    [`SELECT json_object(ARRAY['k', content]) ${T}`, KEYS],
    [`SELECT jsonb_object_agg(k, 1) FROM (SELECT content ${T} UNION ALL SELECT 'g') u(k)`, KEYS],
    [`SELECT json_object_agg(k, 1) FROM (SELECT content ${T} UNION ALL SELECT $2) u(k)`, KEYS],
    // jsonb_set and jsonb_insert sort the path's last element among the document's keys.
    [`SELECT jsonb_set(jsonb_build_object('g', 1), ARRAY[content], '0') ${T}`, KEYS],
    [`SELECT jsonb_set('{}'::jsonb, ARRAY[content], '1') ${T}`, KEYS],
    [`SELECT jsonb_insert('{"g": 1}', ARRAY[content], '0') ${T}`, KEYS],
    [`SELECT jsonb_set_lax('{"g": 1}', ARRAY[content], '0') ${T}`, KEYS],
    [`SELECT jsonb_set(jsonb_build_object(content, 0), '{g}', '1') ${T}`, KEYS],
    [`SELECT jsonb_set(tool_calls, '{a}', to_jsonb(content)) ${T}`, /makes public\.trace_steps\.tool_calls a key of a JSON object/],
    [`SELECT jsonb_insert(tool_calls, '{0}', '1') ${T}`, /makes public\.trace_steps\.tool_calls a key of a JSON object/],
  ],
  'an encoding name cut to 63 bytes, quoted by an error': [
    // length(bytea, name): the name is cut to 63 bytes, and `invalid encoding name "..."` quotes the cut.
    [`SELECT length('x'::bytea, content) ${T}`, /function length over public\.trace_steps\.content would return text/],
    [`SELECT length(content::bytea, content) ${T}`, /function length over public\.trace_steps\.content would return text/],
  ],
  'text that only looks typed, compared with a scanned value': [
    // to_char's format spells any text: to_char(0, '"guess"') is the literal 'guess'.
    [`SELECT step ${T} AND content >= to_char(0, '"OPENAI_API_KEY=sk-M"')`, RANGE],
    [`SELECT step ${T} AND content >= to_char(step, '"OPENAI_API_KEY=sk-M"')`, /compares public\.trace_steps\.step with values of the statement's own/],
    [`SELECT step ${T} AND content >= md5('x')`, RANGE],
    // percentile_disc returns one of its ORDER BY values, whatever the (scanned) fraction.
    [`SELECT step ${T} AND content >= (SELECT percentile_disc(i.step * 0 + 0.5) WITHIN GROUP (ORDER BY 'sk-M') FROM trace_steps i WHERE i.${PIN} GROUP BY i.step LIMIT 1)`, RANGE],
    [`SELECT step ${T} AND content >= (SELECT percentile_disc(step * 0 + 0.5) WITHIN GROUP (ORDER BY v.x) FROM (SELECT $2 AS x) v)`, RANGE],
    [`SELECT content ${T} UNION SELECT percentile_disc(step * 0 + 0.5) WITHIN GROUP (ORDER BY 'sk-M') ${T} GROUP BY step`, GUESS],
    [`SELECT greatest(content, to_char(0, '"sk-M"')) ${T}`, RANGE],
    [`SELECT coalesce(content, to_char(0, '"sk-M"')) AS c ${T} ORDER BY c`, GUESS],
    // jsonb minus an element: a JSON document of the statement's own.
    [`SELECT step ${T} AND jsonb_build_array(tool_calls) >= ('["sk-M", 0]'::jsonb - 1)`, /compares public\.trace_steps\.tool_calls with a value that could be text/],
    // The binary search, run by the statement itself.
    [
      `WITH RECURSIVE r(p, n) AS (SELECT ''::text, 0 UNION ALL SELECT r.p || chr(m.g), r.n + 1 FROM r, LATERAL (SELECT max(g.g) AS g FROM trace_steps s, generate_series(9, 126) AS g(g) WHERE s.${PIN} AND s.step = 4 AND s.content COLLATE "C" >= to_char(0, '"' || r.p || chr(g.g) || '"') COLLATE "C") m WHERE m.g IS NOT NULL AND r.n < 1000) SELECT reverse(p) FROM r ORDER BY n DESC LIMIT 1`,
      RANGE,
    ],
  ],
  'an overlap test, a subnet or interval test on addresses and ranges': [
    [`SELECT step ${T} AND content && '10.0.0.0/8'::inet`, /operator && compares public\.trace_steps\.content with a value that could be text/],
    // An array overlap only tests elements for equality, but the policy cannot tell it
    // from the address or range test by the operands' types: refused alike.
    [`SELECT step ${T} AND ARRAY[content] && ARRAY['sk-M']`, /operator && compares public\.trace_steps\.content/],
  ],
  'a range comparison hidden in a hypothetical-set aggregate': [
    // rank('guess') WITHIN GROUP (ORDER BY content) is 1 + the rows sorting before 'guess'.
    [`SELECT rank('OPENAI_API_KEY=sk-M') WITHIN GROUP (ORDER BY content) ${T}`, /rank\(\) WITHIN GROUP compares public\.trace_steps\.content with a value that could be text/],
    [`SELECT dense_rank($2) WITHIN GROUP (ORDER BY content) ${T}`, /dense_rank\(\) WITHIN GROUP compares public\.trace_steps\.content/],
    [`SELECT percent_rank('sk-M') WITHIN GROUP (ORDER BY tool_calls->>'key') ${T}`, /percent_rank\(\) WITHIN GROUP compares public\.trace_steps\.tool_calls/],
    [`SELECT cume_dist('sk-M', 1) WITHIN GROUP (ORDER BY content, step) ${T}`, /cume_dist\(\) WITHIN GROUP compares public\.trace_steps\.content/],
    [`SELECT step ${T} AND (SELECT rank(to_char(0, '"sk-M"')) WITHIN GROUP (ORDER BY i.content) FROM trace_steps i WHERE i.${PIN}) = 1`, /rank\(\) WITHIN GROUP compares/],
    [`SELECT rank(coalesce(content, 'sk-M')) WITHIN GROUP (ORDER BY content) ${T}`, /rank\(\) WITHIN GROUP compares public\.trace_steps\.content with values of the statement's own/],
    // A hash of a chosen value is bytea of the statement's own, not a typed value.
    [`SELECT step ${T} AND content::bytea >= sha256('x')`, RANGE],
  ],
  'a bytea rendered as hex text (the masker decodes only a bytea column)': [
    [`SELECT content::bytea::text ${T}`, /a cast to text over public\.trace_steps\.content renders a bytea as hex/],
    [`SELECT CAST(CAST(content AS bytea) AS varchar) ${T}`, /a cast to varchar over public\.trace_steps\.content renders a bytea as hex/],
    [`SELECT to_jsonb(content::bytea) ${T}`, /function to_jsonb over public\.trace_steps\.content renders a bytea as a JSON string of hex/],
    [`SELECT jsonb_agg(content::bytea) ${T}`, /renders a bytea as a JSON string of hex/],
    [`SELECT json_build_array(step, (tool_calls->>'key')::bytea) ${T}`, /function json_build_array over public\.trace_steps\.tool_calls renders a bytea/],
    [`SELECT array_to_json(array_agg(content::bytea)) ${T}`, /renders a bytea as a JSON string of hex/],
    [`SELECT jsonb_object_agg(step, content::bytea) ${T}`, /function jsonb_object_agg over public\.trace_steps\.content renders a bytea/],
    [`SELECT ROW(content::bytea, 1) ${T}`, /a ROW\(\.\.\.\) value over public\.trace_steps\.content renders a bytea field as hex/],
    [`SELECT coalesce(content::bytea, '')::text ${T}`, /renders a bytea as hex/],
    [`SELECT nullif(content::bytea, '')::text ${T}`, /renders a bytea as hex/],
    [`SELECT greatest(content::bytea, content::bytea)::text ${T}`, /renders a bytea as hex/],
    [`SELECT (SELECT summary::bytea FROM traces WHERE ${PIN})::text`, /a cast to text over public\.traces\.summary renders a bytea as hex/],
    [`SELECT u.b::text FROM trace_steps s, unnest(ARRAY[s.content::bytea]) u(b) WHERE s.${PIN}`, /renders a bytea as hex/],
    [`SELECT t.b::text FROM trace_steps s, LATERAL jsonb_to_record(s.tool_calls) AS t(b bytea) WHERE s.${PIN}`, /renders a bytea as hex/],
    [`WITH RECURSIVE r(v, n) AS (SELECT content::bytea, 1 ${T} UNION ALL SELECT v, n + 1 FROM r WHERE n < 3) SELECT v::varchar FROM r`, /renders a bytea as hex/],
    // A bare name cast or passed to a JSON function in the select list (x::text,
    // to_jsonb(x), json_agg(x)): the analyser records a use of x alone.
    [`SELECT b::text FROM (SELECT content::bytea AS b ${T}) x`, /a cast to text over public\.trace_steps\.content renders a bytea as hex/],
    [`SELECT x::text FROM (SELECT content::bytea AS b ${T}) x`, /renders a bytea as hex/],
    [`SELECT to_jsonb(x) FROM (SELECT content::bytea AS b ${T}) x`, /to_jsonb\(\) over public\.trace_steps\.content renders a bytea as hex/],
    [`SELECT json_agg(b) FROM (SELECT content::bytea AS b ${T}) x`, /json_agg\(\) over public\.trace_steps\.content renders a bytea as hex/],
    [`SELECT v::text FROM (SELECT content::bytea ${T} UNION ALL SELECT NULL) u(v)`, /renders a bytea as hex/],
  ],
  'case changes (the detectors are case-sensitive)': [
    [`SELECT upper(content) ${T}`, TRANSFORM],
    [`SELECT lower(content) ${T}`, TRANSFORM],
    [`SELECT initcap(content) ${T}`, TRANSFORM],
  ],
  'encodings and characters': [
    [`SELECT encode(convert_to(content, 'UTF8'), 'base64') ${T}`, TRANSFORM],
    [`SELECT encode(content::bytea, 'hex') ${T}`, /function encode over public\.trace_steps\.content/],
    [`SELECT convert_from(content::bytea, 'LATIN1') ${T}`, /function convert_from over public\.trace_steps\.content/],
    [`SELECT decode(content, 'base64') ${T}`, TRANSFORM],
    [`SELECT ascii(content) ${T}`, TRANSFORM],
    [`SELECT chr(ascii(substr(content, 20, 1))) ${T}`, TRANSFORM],
    [`SELECT to_hex(ascii(substr(content, 20, 1))) ${T}`, TRANSFORM],
    [`SELECT quote_literal(content) ${T}`, TRANSFORM],
    [`SELECT quote_ident(content) ${T}`, TRANSFORM],
    [`SELECT quote_nullable(content) ${T}`, TRANSFORM],
    [`SELECT unistr(content) ${T}`, TRANSFORM],
  ],
  'splitting into pieces': [
    [`SELECT string_to_array(content, NULL) ${T}`, TRANSFORM],
    [`SELECT regexp_split_to_array(content, '') ${T}`, TRANSFORM],
    [`SELECT x FROM trace_steps s, regexp_split_to_table(s.content, '') x WHERE s.${PIN}`, /function regexp_split_to_table over public\.trace_steps\.content.*\(in the function in from\)/],
    [`SELECT x FROM trace_steps s, string_to_table(s.content, ' ') x WHERE s.${PIN}`, TRANSFORM],
    [`SELECT u FROM trace_steps s, unnest(string_to_array(s.content, NULL)) u WHERE s.${PIN}`, TRANSFORM],
    [`SELECT to_tsvector(content) ${T}`, TRANSFORM],
  ],
  'joining text': [
    [`SELECT string_agg(content, '') ${T}`, JOINS],
    [`SELECT string_agg(substr(content, 1, 3), '|') ${T}`, TRANSFORM],
    [`SELECT concat(content, '1') ${T}`, JOINS],
    [`SELECT concat_ws(' ', content, role) ${T}`, JOINS],
    [`SELECT content || '1' ${T}`, JOINS],
    [`SELECT '4' || content ${T}`, JOINS],
    [`SELECT format('%-60s|', content) ${T}`, JOINS],
    [`SELECT array_to_string(ARRAY[content], '') ${T}`, JOINS],
  ],
  'casts': [
    [`SELECT content::varchar(12) ${T}`, CAST],
    [`SELECT CAST(content AS char(12)) ${T}`, CAST],
    [`SELECT content::bpchar ${T}`, CAST],
    [`SELECT content::name ${T}`, CAST],
    [`SELECT (tool_calls->'args'->>'card')::int8 + 1 ${T}`, /a cast to int8 over public\.trace_steps\.tool_calls/],
    [`SELECT (tool_calls->'args'->>'card')::numeric / 7 ${T}`, /a cast to numeric over public\.trace_steps\.tool_calls/],
    [`SELECT content::float8 ${T}`, CAST],
    [`SELECT content::interval ${T}`, CAST],
    [`SELECT content::text[] ${T}`, CAST],
    [`SELECT content::tsvector ${T}`, CAST],
    [`SELECT content::regclass ${T}`, CAST],
    // Parsing text as JSON: the parse error quotes the token it stopped at.
    [`SELECT (tool_calls->>'aws_secret_access_key')::jsonb ${T}`, /a cast to jsonb over public\.trace_steps\.tool_calls parses it/],
    [`SELECT (content::jsonb)->>'answer' ${T}`, /a cast to jsonb over public\.trace_steps\.content parses it/],
    // A bare name cast to json/jsonb as a whole select-list item is a column's cast (Postgres
    // has no cast from a row to JSON), not a whole-row form: the error's CONTEXT quotes the 47
    // characters before the closing brace of {"... OPENAI_API_KEY=sk-..."}.
    [`SELECT content::jsonb ${T}`, /a cast to jsonb over public\.trace_steps\.content parses it/],
    [`SELECT content::json ${T}`, /a cast to json over public\.trace_steps\.content parses it/],
    [`SELECT x::jsonb FROM (SELECT ARRAY[content]::text AS x ${T}) q`, /a cast to jsonb over public\.trace_steps\.content parses it/],
    [`SELECT x::json FROM (SELECT ARRAY[content]::text AS x ${T}) q`, /a cast to json over public\.trace_steps\.content parses it/],
    [`SELECT value::jsonb FROM trace_steps s, jsonb_array_elements_text(s.tool_calls) WHERE s.${PIN}`, /a cast to jsonb over public\.trace_steps\.(tool_calls|value) parses it/],
    [`SELECT tool_calls::json ${T}`, /a cast to json over public\.trace_steps\.tool_calls parses it/],
    // The policy does not know the column types: int8/numeric could hold a card number.
    [`SELECT CAST(step AS bigint) + 1 ${T}`, /a cast to int8 over public\.trace_steps\.step/],
    [`SELECT r.card + 1 FROM trace_steps s, jsonb_to_recordset(s.tool_calls) AS r(card numeric) WHERE s.${PIN}`, /a column declared as numeric over public\.trace_steps\.tool_calls/],
  ],
  'JSON paths that filter, and JSON values taken apart': [
    [`SELECT jsonb_path_query(tool_calls, '$.args ? (@ like_regex "^sk-a")') ${T}`, /function jsonb_path_query over public\.trace_steps\.tool_calls needs a constant path/],
    [`SELECT jsonb_path_exists(tool_calls, '$.key ? (@ starts with "sk-M")') ${T}`, /needs a constant path/],
    [`SELECT jsonb_path_query(tool_calls, $2) ${T}`, /needs a constant path/],
    [`SELECT jsonb_path_query_first(tool_calls, '$.key.double()') ${T}`, /needs a constant path/],
    [`SELECT step ${T} AND tool_calls @? '$.key ? (@ like_regex "^sk-a")'`, /operator @\? over public\.trace_steps\.tool_calls searches inside/],
    [`SELECT upper(e.value) FROM trace_steps s, jsonb_array_elements_text(s.tool_calls) e WHERE s.${PIN}`, /function upper over public\.trace_steps\.tool_calls/],
    // Unqualified, `value` could also be a column of trace_steps: denied either way.
    [`SELECT upper(value) FROM trace_steps s, jsonb_array_elements_text(s.tool_calls) value WHERE s.${PIN}`, /function upper over public\.trace_steps\./],
    [`SELECT upper(e.value) FROM trace_steps s, jsonb_each_text(s.tool_calls) e WHERE s.${PIN}`, /function upper over public\.trace_steps\.tool_calls/],
    [`SELECT substr(r.k, 1, 5) FROM trace_steps s, jsonb_to_recordset(s.tool_calls) AS r(k text) WHERE s.${PIN}`, /function substr over public\.trace_steps\.tool_calls/],
    [`SELECT substr(tool_calls->>'key', 1, 8) ${T}`, /function substr over public\.trace_steps\.tool_calls/],
    [`SELECT left(tool_calls::text, 30) ${T}`, /function left over public\.trace_steps\.tool_calls/],
  ],
  'nested': [
    [`SELECT lower(substr(content, 1, 10)) ${T}`, /function substr over public\.trace_steps\.content/],
    [`SELECT substr(lower(content), 1, 10) ${T}`, /function lower over public\.trace_steps\.content/],
    [`SELECT md5(substr(content, 1, 1)) ${T}`, TRANSFORM],
    [`SELECT length(split_part(content, 'sk-', 1)) ${T}`, TRANSFORM],
    [`SELECT substr(coalesce(content, ''), 1, 5) ${T}`, TRANSFORM],
    [`SELECT substr(CASE WHEN true THEN content END, 1, 5) ${T}`, TRANSFORM],
    [`SELECT substr(content::text, 1, 5) ${T}`, TRANSFORM],
    [`SELECT substr(to_jsonb(s)::text, 1, 40) FROM trace_steps s WHERE s.${PIN}`, /function substr over (whole rows of )?public\.trace_steps/],
    [`SELECT substr(s::text, 1, 40) FROM trace_steps s WHERE s.${PIN}`, /function substr over (whole rows of )?public\.trace_steps/],
    [`SELECT substr(s.*::text, 1, 40) FROM trace_steps s WHERE s.${PIN}`, /function substr over whole rows of public\.trace_steps/],
    [`SELECT substr((to_jsonb(s.*)->>'content'), 1, 40) FROM trace_steps s WHERE s.${PIN}`, /function substr over whole rows of public\.trace_steps/],
    [`SELECT (ARRAY[substr(content, 1, 4)])[1] ${T}`, TRANSFORM],
    [`SELECT jsonb_build_object('a', left(content, 4)) ${T}`, TRANSFORM],
  ],
  'through subqueries, CTEs, set operations and LATERAL': [
    [`SELECT substr(c, 1, 5) FROM (SELECT content AS c ${T}) x`, TRANSFORM],
    [`SELECT x.c FROM (SELECT substr(content, 1, 5) AS c ${T}) x`, TRANSFORM],
    [`WITH c AS (SELECT tool_calls->>'key' AS v ${T}) SELECT left(v, 5) FROM c`, /function left over public\.trace_steps\.tool_calls/],
    [`WITH c AS (SELECT reverse(content) AS v ${T}) SELECT 1 FROM c`, TRANSFORM],
    [`SELECT lower(v) FROM (SELECT content ${T} UNION ALL SELECT 'x') u(v)`, TRANSFORM],
    [`SELECT upper(v) FROM (SELECT 'x' UNION ALL SELECT content ${T}) u(v)`, TRANSFORM],
    [`SELECT reverse(x::text) FROM (SELECT * ${T}) x`, /function reverse over (whole rows of )?public\.trace_steps/],
    [`SELECT substr(x.c, 1, 5) FROM (SELECT coalesce(content, '') AS c ${T}) x`, TRANSFORM],
    [`SELECT upper(x.u) FROM trace_steps s, unnest(ARRAY[s.content]) x(u) WHERE s.${PIN}`, TRANSFORM],
    [`SELECT y.p FROM trace_steps s, LATERAL (SELECT substr(s.content, 1, 5) AS p) y WHERE s.${PIN}`, TRANSFORM],
    [`SELECT y.p FROM trace_steps s, LATERAL (VALUES (substr(s.content, 1, 5))) y(p) WHERE s.${PIN}`, TRANSFORM],
    [`SELECT (SELECT left(content, 4) FROM trace_steps i WHERE i.trace_id = s.trace_id LIMIT 1) FROM traces s WHERE s.${PIN}`, TRANSFORM],
    [`SELECT ARRAY(SELECT right(content, 4) ${T})`, TRANSFORM],
    [`SELECT upper(v) FROM (SELECT content ${T} INTERSECT SELECT content ${T}) u(v)`, TRANSFORM],
    [`SELECT initcap(v) FROM (SELECT * ${T}) x(a, b, c, v)`, /function initcap over (whole rows of )?public\.trace_steps/],
    [`SELECT (SELECT substr(x, 1, 5) FROM (SELECT s.content) y(x)) ${S}`, TRANSFORM],
    [`SELECT substr(x.v, 1, 5) FROM trace_steps s, LATERAL ROWS FROM (jsonb_array_elements_text(s.tool_calls)) AS x(v) WHERE s.${PIN}`, /function substr over public\.trace_steps\.tool_calls/],
    [`SELECT upper((SELECT content ${T} UNION SELECT 'x' LIMIT 1))`, TRANSFORM],
    [`SELECT t.* FROM trace_steps s, LATERAL jsonb_to_record(s.tool_calls) AS t(a varchar(5)) WHERE s.${PIN}`, /a column declared as varchar over public\.trace_steps\.tool_calls truncates it/],
    [`SELECT t.* FROM trace_steps s, LATERAL jsonb_to_record(s.tool_calls) AS t(a text[]) WHERE s.${PIN}`, /a column declared as text\[\] over public\.trace_steps\.tool_calls/],
    [`WITH RECURSIVE r(v) AS (SELECT content ${T} UNION ALL SELECT substr(v, 2) FROM r WHERE length(v) > 0) SELECT v FROM r`, TRANSFORM],
    [`SELECT to_char(created_at, s.content) FROM traces t JOIN trace_steps s USING (trace_id) WHERE t.${PIN}`, /function to_char over public\.trace_steps\.content/],
    [`SELECT date_trunc(content, now()) ${T}`, /function date_trunc over public\.trace_steps\.content/],
  ],
  'oracles in conditions, sorts and groups': [
    [`SELECT step ${T} AND strpos(content, 'KEY=sk-a') > 0`, /function strpos over public\.trace_steps\.content searches inside.*\(in the WHERE\)/],
    [`SELECT step ${T} AND position('sk-a' IN content) > 0`, SEARCH],
    [`SELECT step ${T} AND starts_with(content, 'sk-')`, SEARCH],
    [`SELECT step ${T} AND substr(content, 5, 1) = 'a'`, /function substr over public\.trace_steps\.content.*compare whole values instead.*\(in the WHERE\)/],
    [`SELECT step ${T} AND ascii(substr(content, 5, 1)) > 100`, TRANSFORM],
    [`SELECT step ${T} AND length(substr(content, 1, strpos(content, 'sk-'))) > 3`, /function (substr|strpos)/],
    [`SELECT step ${T} AND content LIKE '%KEY=sk-a%'`, /LIKE over public\.trace_steps\.content searches inside/],
    [`SELECT step ${T} AND content NOT LIKE '%KEY=sk-a%'`, SEARCH],
    [`SELECT step ${T} AND content ILIKE '%key=SK-A%'`, /ILIKE over/],
    [`SELECT step ${T} AND content ~ 'KEY=sk-[a-m]'`, /operator ~ over public\.trace_steps\.content searches inside/],
    [`SELECT step ${T} AND content ~* 'KEY=SK-[A-M]'`, SEARCH],
    [`SELECT step ${T} AND content SIMILAR TO '%sk-[a-m]%'`, /SIMILAR TO over/],
    [`SELECT step ${T} AND content ^@ 'sk-'`, SEARCH],
    [`SELECT step ${T} AND content @@ 'sk'`, SEARCH],
    [`SELECT step ${T} AND to_tsvector(content) @@ to_tsquery('sk:*')`, TRANSFORM],
    [`SELECT step ${T} AND content LIKE ANY (ARRAY['%sk-a%', '%sk-b%'])`, SEARCH],
    [`SELECT step ${T} AND content < 'OPENAI_API_KEY=sk-M'`, RANGE],
    [`SELECT step ${T} AND content >= $2`, RANGE],
    [`SELECT step ${T} AND content BETWEEN 'OPENAI_API_KEY=sk-A' AND 'OPENAI_API_KEY=sk-M'`, /BETWEEN compares public\.trace_steps\.content/],
    [`SELECT step ${T} AND content < ANY (ARRAY['a', 'b'])`, RANGE],
    [`SELECT step ${T} AND tool_calls->>'key' > 'sk-M'`, /compares public\.trace_steps\.tool_calls with a value that could be text/],
    [`SELECT step ${T} AND content > (SELECT 'sk-M')`, RANGE],
    [`SELECT x.g FROM trace_steps s, generate_series(32, 126) x(g) WHERE s.${PIN} AND s.content < ('OPENAI_API_KEY=sk-' || chr(x.g))`, RANGE],
    [`SELECT x.g FROM trace_steps s, generate_series(32, 126) x(g) WHERE s.${PIN} AND s.content LIKE ('%sk-' || chr(x.g) || '%')`, SEARCH],
    [`SELECT x.g FROM trace_steps s, generate_series(32, 126) x(g) WHERE s.${PIN} AND (x.g = 65 AND s.content LIKE '%sk-A%' OR x.g = 66 AND s.content LIKE '%sk-B%')`, SEARCH],
    [`SELECT step FROM trace_steps a JOIN traces t ON t.trace_id = a.trace_id AND strpos(a.content, 'sk-') > 0 WHERE a.${PIN}`, /searches inside.*\(in the JOIN CONDITION\)/],
    [`SELECT role ${T} GROUP BY role HAVING max(content) LIKE '%sk-a%'`, /\(in the HAVING\)/],
    [`SELECT step ${T} ORDER BY substr(content, 20, 1)`, /\(in the order by\)/],
    [`SELECT count(*) ${T} GROUP BY substr(content, 20, 1)`, /\(in the group by\)/],
    [`SELECT row_number() OVER (PARTITION BY left(content, 20)) ${T}`, TRANSFORM],
    [`SELECT * FROM traces t WHERE t.${PIN} AND EXISTS (SELECT 1 FROM trace_steps s WHERE s.trace_id = t.trace_id AND s.content LIKE '%sk-a%')`, SEARCH],
    [`SELECT width_bucket(content, ARRAY['a', 'm', 'z']) ${T}`, SEARCH],
    [`SELECT CASE WHEN content < 'x' THEN 1 END ${T}`, RANGE],
    [`SELECT count(*) ${T} GROUP BY content > 'x'`, RANGE],
    [`SELECT ROW(content, 1) < ROW('sk-M', 1) ${T}`, RANGE],
    [`SELECT step ${T} AND (content, step) < (SELECT 'x', 1)`, RANGE],
    [`SELECT step ${T} AND created_at > '2024-01-01'`, /compares public\.trace_steps\.created_at with a value that could be text/],
  ],
  'booleans and counts that ask many questions at once': [
    [`SELECT content LIKE '%KEY=sk-a%', content LIKE '%KEY=sk-b%' ${T}`, SEARCH],
    [`SELECT content < 'OPENAI_API_KEY=sk-M' ${T}`, RANGE],
    [`SELECT CASE WHEN content LIKE '%KEY=sk-a%' THEN 'a' WHEN content LIKE '%KEY=sk-b%' THEN 'b' END ${T}`, SEARCH],
    [`SELECT count(*) FILTER (WHERE content ~ 'KEY=sk-a') ${T}`, SEARCH],
    [`SELECT bool_or(content ~ 'sk-a') ${T}`, SEARCH],
  ],
  'arithmetic against chosen values (an address spelled as a number, a subnet oracle)': [
    [`SELECT client_ip - '0.0.0.0' FROM traces WHERE ${PIN}`, /operator - combines public\.traces\.client_ip with a value that could be text/],
    [`SELECT trace_id FROM traces WHERE ${PIN} AND client_ip << '10.0.0.0/8'`, /operator << combines public\.traces\.client_ip/],
    [`SELECT '255.255.255.255'::inet - client_ip FROM traces WHERE ${PIN}`, /operator - combines public\.traces\.client_ip/],
    [`SELECT substr((step + 1)::text, 1, 1) ${T}`, /function substr over public\.trace_steps\.step/],
    [`SELECT step ${T} AND (step * 1)::text < '5'`, /compares public\.trace_steps\.step with a value that could be text/],
    [`SELECT step + $2 ${T}`, /operator \+ combines public\.trace_steps\.step/],
    // A JSON document minus a key is harmless, but `-` cannot be told from inet - inet.
    [`SELECT tool_calls - 'secret' ${T}`, /operator - combines public\.trace_steps\.tool_calls/],
  ],
  'sorting against chosen values': [
    [`SELECT content ${T} UNION ALL SELECT 'OPENAI_API_KEY=sk-M' ORDER BY 1`, GUESS],
    [`SELECT v FROM (SELECT content ${T} UNION ALL SELECT 'sk-M') u(v) ORDER BY v`, GUESS],
    [`SELECT max(v) FROM (SELECT content ${T} UNION ALL VALUES ('OPENAI_API_KEY=sk-M')) u(v)`, GUESS],
    [`SELECT min(coalesce(content, 'sk-M')) ${T}`, GUESS],
    [`SELECT step ${T} ORDER BY coalesce(content, $2)`, GUESS],
    [`SELECT greatest(content, 'OPENAI_API_KEY=sk-M') ${T}`, /greatest\/least compares public\.trace_steps\.content with a value that could be text/],
    [`SELECT greatest(content, coalesce(content, 'OPENAI_API_KEY=sk-M')) ${T}`, GUESS],
    [`SELECT least(content, $2) ${T}`, /compares public\.trace_steps\.content with a value that could be text/],
    [`SELECT row_number() OVER (ORDER BY coalesce(content, 'sk-M')) ${T}`, GUESS],
    [`SELECT array_agg(step ORDER BY CASE WHEN step = 1 THEN content ELSE 'sk-M' END) ${T}`, GUESS],
    [`SELECT mode() WITHIN GROUP (ORDER BY coalesce(content, 'sk-M')) ${T}`, GUESS],
    [`SELECT step ${T} AND coalesce(content, 'x') < content`, GUESS],
    [`SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY v) FROM (SELECT content ${T} UNION ALL SELECT 'sk-M') u(v)`, GUESS],
    [`SELECT coalesce(content, 'g') ${T} ORDER BY 1`, GUESS],
    [`SELECT content ${T} UNION SELECT 'sk-M' ORDER BY content`, GUESS],
    [`SELECT role ${T} GROUP BY role HAVING max(coalesce(content, 'g')) IS NOT NULL`, GUESS],
    [`SELECT content ${T} ORDER BY lag(content, 1, 'g') OVER (ORDER BY step)`, GUESS],
    [`SELECT x.v FROM trace_steps s, LATERAL (VALUES (s.content), ('sk-M')) x(v) WHERE s.${PIN} ORDER BY x.v`, GUESS],
    [`SELECT (CASE WHEN step = 1 THEN tool_calls ELSE '{"a":"sk-M"}' END)->>'a' < tool_calls->>'b' ${T}`, /compares public\.trace_steps\.tool_calls with values of the statement's own/],
    [`SELECT (ARRAY[content, 'sk-M'])[2] < content ${T}`, GUESS],
    [`SELECT jsonb_build_object('x', 'sk-M', 'y', content)->>'x' < content ${T}`, GUESS],
    // WITH RECURSIVE: the recursive term sees the base term's constant (a fixpoint).
    [`WITH RECURSIVE r(v, n) AS (SELECT 'OPENAI_API_KEY=sk-M', 1 UNION ALL SELECT s.content, r.n + 1 FROM r, trace_steps s WHERE s.${PIN} AND r.n < 2) SELECT v FROM r ORDER BY v`, GUESS],
    [`WITH RECURSIVE r(v, n) AS (SELECT 'OPENAI_API_KEY=sk-M', 1 UNION ALL SELECT r.v, r.n + 1 FROM r, trace_steps s WHERE s.${PIN} AND r.n < 2 AND r.v < s.content) SELECT n FROM r`, /compares public\.trace_steps\.content with a value that could be text/],
  ],
};

const LEGIT: readonly (readonly [sql: string, params?: readonly string[]])[] = [
  // bare columns, rows and joins on the trace key
  [`SELECT s.step, s.content FROM trace_steps s WHERE s.trace_id = $1 ORDER BY s.step`, ['t1']],
  [`SELECT * ${T}`],
  [`SELECT s.* ${S} ORDER BY s.step LIMIT 10 OFFSET 2`],
  [`SELECT s, to_jsonb(s), row_to_json(s), s::text ${S}`],
  [`SELECT t.summary, s.role, s.content FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.${PIN} ORDER BY s.step`],
  [`SELECT * FROM traces t JOIN trace_steps s USING (trace_id) WHERE t.trace_id = $1`, ['t1']],
  [`SELECT a.step, b.content FROM trace_steps a JOIN trace_steps b ON b.trace_id = a.trace_id AND b.step = a.step + 1 WHERE a.${PIN}`],
  [`SELECT a.step, b.step FROM trace_steps a JOIN trace_steps b ON b.trace_id = a.trace_id AND b.step < a.step WHERE a.${PIN}`],
  // JSON
  [`SELECT tool_calls->'name', tool_calls->>'id', tool_calls #> '{args}', tool_calls #>> '{args,0}' ${T}`],
  [`SELECT tool_calls['args'] ${T}`],
  [`SELECT e->>'name', e->'args' FROM trace_steps s, LATERAL jsonb_array_elements(s.tool_calls) e WHERE s.${PIN}`],
  [`SELECT value FROM trace_steps s, jsonb_array_elements_text(s.tool_calls->'tags') WHERE s.${PIN}`],
  [`SELECT k, v FROM trace_steps s, jsonb_each(s.tool_calls) AS x(k, v) WHERE s.${PIN}`],
  [`SELECT key, value FROM trace_steps s, jsonb_each_text(s.tool_calls) WHERE s.${PIN} AND key = 'name'`],
  [`SELECT r.name, r.id, r.args FROM trace_steps s, jsonb_to_recordset(s.tool_calls) AS r(name text, id int, args jsonb) WHERE s.${PIN}`],
  [`SELECT jsonb_extract_path_text(tool_calls, 'args', 'query'), jsonb_extract_path(tool_calls, 'args') ${T}`],
  [`SELECT jsonb_path_query(tool_calls, '$.args[*].name'), jsonb_path_query_first(tool_calls, 'strict $."a b"[0]') ${T}`],
  [`SELECT jsonb_typeof(tool_calls), jsonb_array_length(tool_calls), jsonb_pretty(tool_calls), jsonb_object_keys(tool_calls) ${T}`],
  [`SELECT to_jsonb(content), jsonb_build_object('step', step, 'content', content), jsonb_build_array(content, role) ${T}`],
  [`SELECT step ${T} AND tool_calls @> '{"name":"search"}' AND tool_calls ? 'args' AND NOT tool_calls ?| ARRAY['x']`],
  [`SELECT step ${T} AND (tool_calls->>'duration_ms')::int > 100`],
  [`SELECT to_jsonb(content)->>0, tool_calls #- '{args,0}' ${T}`],
  [`SELECT jsonb_path_exists(tool_calls, '$.args') ${T}`],
  // aggregates over one trace
  [`SELECT count(*), count(content), count(DISTINCT role), max(step), min(step), sum(step), avg(step) ${T}`],
  [`SELECT role, count(*) ${T} GROUP BY role HAVING count(*) > 1 ORDER BY 2 DESC`],
  [`SELECT array_agg(content ORDER BY step), jsonb_agg(tool_calls), json_agg(content), jsonb_object_agg(step, content) ${T}`],
  [`SELECT max(content), min(content), max(tool_calls->>'name') ${T}`],
  [`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY step), mode() WITHIN GROUP (ORDER BY role) ${T}`],
  [`SELECT array_agg(step ORDER BY step) FILTER (WHERE role = 'tool') ${T}`],
  // windows
  [`SELECT step, row_number() OVER (PARTITION BY role ORDER BY step), lag(content) OVER (ORDER BY step), first_value(content) OVER w ${T} WINDOW w AS (ORDER BY step)`],
  [`SELECT rank() OVER (ORDER BY content), dense_rank() OVER (PARTITION BY content) ${T}`],
  // hypothetical-set aggregates against typed values, or data against data
  [`SELECT rank(3) WITHIN GROUP (ORDER BY step), cume_dist(now()) WITHIN GROUP (ORDER BY created_at) FROM traces t JOIN trace_steps s USING (trace_id) WHERE t.${PIN}`],
  [`SELECT rank(s.content) WITHIN GROUP (ORDER BY i.content) FROM trace_steps s JOIN trace_steps i USING (trace_id) WHERE s.${PIN} GROUP BY s.content`],
  // bytea: whole as a bytea, hashed, measured, compared whole, aggregated into a bytea[]
  [`SELECT content::bytea, length(content::bytea), md5(content::bytea), sha512(content::bytea), max(content::bytea), array_agg(content::bytea) ${T} GROUP BY content`],
  [`SELECT step ${T} AND content::bytea = '\\x00' ORDER BY content::bytea`],
  [`SELECT b FROM (SELECT content::bytea AS b ${T}) x ORDER BY b`],
  // order, distinct, limits
  [`SELECT * ${T} ORDER BY content, step DESC NULLS LAST LIMIT 5`],
  [`SELECT DISTINCT role ${T}`],
  [`SELECT DISTINCT ON (role) role, content ${T} ORDER BY role, step`],
  [`SELECT DISTINCT content ${T} ORDER BY content`],
  // parameters and comparisons of whole values
  [`SELECT content FROM trace_steps WHERE trace_id = $1 AND step = $2 AND role = $3`, ['t1', '2', 'tool']],
  [`SELECT * ${T} AND step = 3 AND role = 'tool' AND content IS NOT NULL AND content <> '' AND content = $1`, ['x']],
  [`SELECT * ${T} AND role IN ('user', 'assistant') AND role NOT IN ('system') AND step = ANY (ARRAY[1, 2])`],
  [`SELECT * ${T} AND content IS DISTINCT FROM 'x' AND md5(content) = 'abc'`],
  [`SELECT * ${T} AND step > 3 AND step <= 10 AND step BETWEEN 1 AND 5 AND step < ALL (ARRAY[100])`],
  [`SELECT * FROM traces WHERE ${PIN} AND created_at > now() - interval '1 day'`],
  [`SELECT * FROM traces WHERE ${PIN} AND created_at < $1::timestamptz AND created_at >= timestamptz '2024-01-01'`, ['2025-01-01']],
  [`SELECT * FROM traces WHERE ${PIN} AND created_at > current_timestamp - make_interval(0, 0, 1)`],
  [`SELECT * FROM traces WHERE ${PIN} AND risk = ANY ($1::text[])`, ['{low}']],
  [`SELECT * FROM traces t WHERE t.${PIN} AND t.risk IN (SELECT s.role FROM trace_steps s WHERE s.${PIN})`],
  [`SELECT * FROM traces t WHERE t.${PIN} AND EXISTS (SELECT 1 FROM trace_steps s WHERE s.trace_id = t.trace_id AND s.role = 'tool')`],
  [`SELECT step, content = 'x', content IS NULL, tool_calls @> '{"a":1}' ${T}`],
  // lengths, hashes, counts: destroyed
  [`SELECT length(content), char_length(content), octet_length(content), md5(content), sha256(content::bytea) ${T}`],
  [`SELECT step ${T} AND length(content) > 100 ORDER BY length(content) DESC`],
  [`SELECT encode(sha256(convert_to('x', 'UTF8')), 'hex'), encode(sha256(content::bytea), 'hex') ${T}`],
  // casts
  [`SELECT content::text, content::varchar, tool_calls::text, step::text, created_at::date FROM trace_steps s JOIN traces t USING (trace_id) WHERE t.${PIN}`],
  [`SELECT step + 1, step / 2.0, step::int4, CAST(step AS integer) * 2 ${T}`],
  [`SELECT (tool_calls->>'ok')::bool, (tool_calls->>'at')::timestamptz ${T}`],
  // coalesce, CASE, nullif keep the value whole
  [`SELECT coalesce(content, ''), nullif(content, ''), CASE WHEN role = 'tool' THEN content ELSE '(hidden)' END ${T}`],
  [`SELECT CASE WHEN content = 'x' THEN 1 ELSE 0 END, greatest(step, 0), least(step, 10) ${T}`],
  [`SELECT coalesce(step, 0) AS s ${T} ORDER BY s`],
  // dates and numbers
  [`SELECT date_trunc('hour', created_at), extract(epoch FROM created_at), created_at AT TIME ZONE 'UTC', to_char(created_at, 'YYYY-MM-DD'), age(created_at) FROM traces WHERE ${PIN}`],
  [`SELECT round(avg(step), 2), abs(step - 3), step % 2, step * 10, -step, sum(step) / count(*) ${T}`],
  [`SELECT extract(epoch FROM now() - created_at) FROM traces WHERE ${PIN}`],
  // subqueries, CTEs, set operations, LATERAL
  [`WITH c AS (SELECT content, step ${T}) SELECT content FROM c ORDER BY step`],
  [`WITH c AS (SELECT tool_calls->>'name' AS name ${T}) SELECT name, count(*) FROM c GROUP BY name ORDER BY name`],
  [`SELECT x.c FROM (SELECT coalesce(content, '') AS c ${T}) x`],
  [`SELECT (SELECT count(*) FROM trace_steps s WHERE s.trace_id = t.trace_id) FROM traces t WHERE t.${PIN}`],
  [`SELECT * FROM traces t, LATERAL (SELECT * FROM trace_steps s WHERE s.trace_id = t.trace_id ORDER BY step DESC LIMIT 1) last WHERE t.${PIN}`],
  [`SELECT summary FROM traces WHERE ${PIN} UNION ALL SELECT content ${T} ORDER BY 1`],
  [`SELECT step ${T} EXCEPT SELECT 3 ORDER BY 1`],
  [`SELECT content ${T} UNION ALL SELECT 'none'`],
  [`SELECT s.* FROM generate_series(1, 3) g, trace_steps s WHERE s.${PIN} AND s.step = g ORDER BY g`],
  [`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT s.* FROM n, trace_steps s WHERE s.${PIN} AND s.step = n.i`],
  [`SELECT v FROM (VALUES (1), (2)) x(v), trace_steps s WHERE s.${PIN} AND s.step = x.v`],
  [`WITH RECURSIVE r(v, n) AS (SELECT content, 1 ${T} UNION ALL SELECT v, n + 1 FROM r WHERE n < 3) SELECT v, n FROM r ORDER BY n, v`],
  [`SELECT x FROM (SELECT content ${T}) AS x ORDER BY x`],
  [`SELECT content ${T} UNION ALL SELECT content ${T} ORDER BY 1`],
  [`SELECT v FROM (SELECT content ${T} UNION ALL SELECT NULL) u(v) ORDER BY v`],
  [`SELECT step ${T} AND content > ALL (SELECT content ${T})`],
  [`SELECT s.content ${S} AND s.step = (SELECT max(step) FROM trace_steps i WHERE i.${PIN})`],
  [`SELECT s.step FROM trace_steps s JOIN trace_steps o ON o.trace_id = s.trace_id AND o.content = s.content WHERE s.${PIN}`],
  [`SELECT count(*) FILTER (WHERE content = 'x'), count(*) FILTER (WHERE role = 'tool') ${T}`],
  [`SELECT content ${T} AND content = ANY (string_to_array($1, ','))`, ['a,b']],
  [`SELECT step ${T} AND (content, step) IN (SELECT 'x', 1)`],
  [`SELECT step ${T} AND tool_calls->'a' = to_jsonb('x'::text)`],
  [`SELECT array_to_json(ARRAY[content]), json_object(ARRAY['k'], ARRAY[content]), row_to_json(ROW(content, 1)) ${T}`],
  [`SELECT e.value->>'name' FROM trace_steps s, LATERAL jsonb_array_elements(s.tool_calls) e WHERE s.${PIN} ORDER BY e.value->>'name'`],
  [`SELECT t.* FROM trace_steps s, LATERAL jsonb_to_record(s.tool_calls) AS t(a text, b int, c jsonb, d bool, e timestamptz) WHERE s.${PIN}`],
  [`SELECT step ${T} AND step > 3::int4 AND step < 2.5 AND step >= -1 AND step IN (SELECT generate_series(1, 3))`],
  [`SELECT json_agg(s ORDER BY s.step), jsonb_agg(s.content ORDER BY s.content) ${S}`],
  [`SELECT jsonb_set('{"a": 1}', '{b}', to_jsonb(content)), jsonb_insert('[1]', '{0}', to_jsonb(content)), jsonb_set(tool_calls, ARRAY[role], '1') ${T}`],
  // keys of the trace's own, or chosen keys over values of the trace's own
  [`SELECT jsonb_build_object(role, content), jsonb_build_object('step', step, 'content', content), jsonb_object_agg(role, content), jsonb_object(ARRAY[role], ARRAY[content]) ${T}`],
  [`SELECT length(content), length(content::bytea, 'UTF8'), octet_length(content) ${T}`],
  [`SELECT step ${T} AND step >= (SELECT percentile_disc(i.step * 0 + 0.5) WITHIN GROUP (ORDER BY 3) FROM trace_steps i WHERE i.${PIN} GROUP BY i.step LIMIT 1)`],
  [`SELECT percentile_disc(step * 0 + 0.5) WITHIN GROUP (ORDER BY 'label') ${T} GROUP BY step`],
  [`SELECT * FROM traces WHERE ${PIN} AND created_at > now() - interval '1 day' * 2 AND created_at < to_timestamp(0) + interval '100 years'`],
];

describe('decide: taking a scanned value apart is denied', () => {
  for (const [category, attacks] of Object.entries(ATTACKS)) {
    describe(category, () => {
      for (const [sql, reason] of attacks) {
        it(`denies ${sql}`, () => {
          const d = run(sql, { params: ['t1', 'x'] });
          expect(d.outcome, JSON.stringify(d)).toBe('deny');
          if (d.outcome !== 'deny') return;
          expect(d.sqlstate).toBe('42501');
          expect(d.reason).toMatch(reason);
        });
      }
    });
  }
});

describe('decide: the legitimate shapes still pass', () => {
  for (const [sql, params] of LEGIT) {
    it(`allows ${sql}`, () => {
      const d = run(sql, { params: params ?? [] });
      expect(d.outcome, d.outcome === 'deny' ? d.reason : '').toBe('allow');
    });
  }
});

describe('decide: who and which policy the rule applies to', () => {
  const noDetectors = parsePolicy(TEST_POLICY_YAML.replace('masking:\n', 'masking:\n  detectors: none\n'), 'no-detectors.yaml', { env: {} });
  const someDetectors = parsePolicy(TEST_POLICY_YAML.replace('masking:\n', 'masking:\n  detectors: [email]\n'), 'some-detectors.yaml', { env: {} });
  const samples = Object.values(ATTACKS)
    .flat()
    .map(([sql]) => sql)
    // Masked-column rules (traces.user_email, traces.body) stay whatever the detectors.
    .filter((sql) => !/\btraces\b(?!_)/.test(sql.replace(/trace_steps/g, '')));

  it('a maskingExempt rule (security reviewers) is unaffected', () => {
    for (const sql of samples) {
      const d = run(sql, { who: reviewer, params: ['t1', 'x'] });
      expect(d.outcome, `${sql}: ${d.outcome === 'deny' ? d.reason : ''}`).toBe('allow');
    }
  });

  it('a policy with detectors: none does not scan, so nothing is taken apart', () => {
    for (const sql of samples) {
      const d = decide(noDetectors, reader, analyze(sql), ['t1', 'x'], NOW);
      expect(d.outcome, `${sql}: ${d.outcome === 'deny' ? d.reason : ''}`).toBe('allow');
    }
  });

  it('a policy with some detectors scans every trace column', () => {
    const d = decide(someDetectors, reader, analyze(`SELECT upper(content) ${T}`), [], NOW);
    expect(d).toMatchObject({ outcome: 'deny', reason: expect.stringMatching(TRANSFORM) });
  });

  it('the stricter masked-column rule still answers first for a masked column', () => {
    const d = run(`SELECT lower(user_email) FROM traces WHERE ${PIN}`);
    expect(d).toMatchObject({ outcome: 'deny', reason: expect.stringMatching(/masked column public\.traces\.user_email is used in an expression/) });
  });

  it('statements that read no trace table are not affected', () => {
    for (const sql of [`SELECT upper('x'), substr(version(), 1, 10)`, `SELECT lower(typname) FROM pg_type WHERE oid = 25`]) {
      expect(run(sql).outcome, sql).toBe('allow');
    }
  });

  it('memoises the verdict: a repeated statement is decided again in microseconds', () => {
    const sql = `SELECT e->>'name', count(*) FROM trace_steps s, LATERAL jsonb_array_elements(s.tool_calls) e WHERE s.trace_id = $1 AND s.step > 2 GROUP BY 1 ORDER BY 2 DESC`;
    const analysis = analyze(sql);
    expect(decide(testPolicy, reader, analysis, ['t1'], NOW).outcome).toBe('allow');
    const n = 20_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) decide(testPolicy, reader, analysis, ['t1'], NOW);
    const perCallNs = Number(process.hrtime.bigint() - start) / n;
    // A generous bound for a loaded machine; typically about a microsecond.
    expect(perCallNs).toBeLessThan(50_000);
  });
});
