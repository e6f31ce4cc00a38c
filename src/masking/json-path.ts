// The JSON path subset column rules use to name places inside a json/jsonb document:
//   $                 the whole document
//   .name ['name']    an object member ("name" may be any key in the bracket form)
//   [3]               an array element
//   .* [*]            any member or element
//   ..name ..* ..[*]  the same, at any depth below (recursive descent)
// e.g. $.user.email, $.credentials, $.messages[*].content, $..password.
// Paths are compiled once per policy; matching is against the path of the value the
// JSON walker is at, and a match on an object or array covers everything inside it.

export type PathStep = string | number;

export type Segment =
  | { type: 'key'; key: string; deep: boolean }
  | { type: 'index'; index: number; deep: boolean }
  | { type: 'any'; deep: boolean };

export interface JsonPath {
  readonly source: string;
  readonly segments: readonly Segment[];
}

const NAME = /[^.[\]\s'"]+/y;
const INDEX = /\[(\d+)\]/y;
const WILD = /\[\*\]/y;
const QUOTED = /\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/y;

export class JsonPathError extends Error {
  constructor(source: string, at: number) {
    super(`invalid JSON path ${JSON.stringify(source)} at offset ${at}`);
    this.name = 'JsonPathError';
  }
}

function sticky(re: RegExp, s: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(s);
}

export function parseJsonPath(source: string): JsonPath {
  if (!source.startsWith('$')) throw new JsonPathError(source, 0);
  const segments: Segment[] = [];
  let i = 1;
  while (i < source.length) {
    let deep = false;
    if (source.startsWith('..', i)) {
      deep = true;
      i += 2;
    } else if (source[i] === '.') {
      i += 1;
    } else if (source[i] !== '[') {
      throw new JsonPathError(source, i);
    }
    let m: RegExpExecArray | null;
    if (source[i] === '*') {
      segments.push({ type: 'any', deep });
      i += 1;
    } else if (source[i] !== '[' && (m = sticky(NAME, source, i)) !== null) {
      segments.push({ type: 'key', key: m[0], deep });
      i += m[0].length;
    } else if ((m = sticky(WILD, source, i)) !== null) {
      segments.push({ type: 'any', deep });
      i += m[0].length;
    } else if ((m = sticky(INDEX, source, i)) !== null) {
      segments.push({ type: 'index', index: Number(m[1]), deep });
      i += m[0].length;
    } else if ((m = sticky(QUOTED, source, i)) !== null) {
      const key = (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1');
      segments.push({ type: 'key', key, deep });
      i += m[0].length;
    } else {
      throw new JsonPathError(source, i);
    }
  }
  return { source, segments };
}

function stepMatches(seg: Segment, step: PathStep): boolean {
  switch (seg.type) {
    case 'any':
      return true;
    case 'key':
      return step === seg.key;
    case 'index':
      return step === seg.index;
  }
}

function matchFrom(segs: readonly Segment[], si: number, path: readonly PathStep[], pi: number): boolean {
  if (si === segs.length) return pi === path.length;
  const seg = segs[si] as Segment;
  if (!seg.deep) {
    return pi < path.length && stepMatches(seg, path[pi] as PathStep) && matchFrom(segs, si + 1, path, pi + 1);
  }
  for (let p = pi; p < path.length; p++) {
    if (stepMatches(seg, path[p] as PathStep) && matchFrom(segs, si + 1, path, p + 1)) return true;
  }
  return false;
}

/** True when `path` (keys and indices from the root) is exactly a place `jp` names. */
export function pathMatches(jp: JsonPath, path: readonly PathStep[]): boolean {
  return matchFrom(jp.segments, 0, path, 0);
}
