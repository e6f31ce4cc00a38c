// JSON string escapes decoded over a whole text, with a map back to the original
// positions. Detectors run on the decoded text, so "alice\u0040example.com" or a PEM
// whose line breaks are "\n" is seen as it reads, and each hit maps back to a range of
// the original that starts and ends on escape boundaries: a marker spliced there never
// leaves half an escape behind. Anything that is not a valid escape stays as written.

export interface Unescaped {
  text: string;
  /** map[k] is the original index of decoded unit k; map[text.length] is the original length. */
  map: Int32Array;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function simpleEscape(c: number): string | undefined {
  switch (c) {
    case 0x22:
      return '"';
    case 0x5c:
      return '\\';
    case 0x2f:
      return '/';
    case 0x62:
      return '\b';
    case 0x66:
      return '\f';
    case 0x6e:
      return '\n';
    case 0x72:
      return '\r';
    case 0x74:
      return '\t';
    default:
      return undefined;
  }
}

/** Null when `s` has no backslash: the text is its own decoding. */
export function unescapeJsonText(s: string): Unescaped | null {
  let bs = s.indexOf('\\');
  if (bs < 0) return null;
  const map = new Int32Array(s.length + 1);
  const parts: string[] = [];
  let k = 0;
  let from = 0;
  while (bs >= 0) {
    for (let i = from; i < bs; i++) map[k++] = i;
    parts.push(s.slice(from, bs));
    const c = s.charCodeAt(bs + 1);
    let decoded = simpleEscape(c);
    let width = 2;
    if (decoded === undefined && c === 0x75) {
      const h = (hexValue(s.charCodeAt(bs + 2)) << 12) | (hexValue(s.charCodeAt(bs + 3)) << 8) | (hexValue(s.charCodeAt(bs + 4)) << 4) | hexValue(s.charCodeAt(bs + 5));
      // An invalid or missing digit makes h negative: hexValue's -1 keeps the sign bit.
      if (h >= 0) {
        decoded = String.fromCharCode(h);
        width = 6;
      }
    }
    if (decoded === undefined) {
      decoded = '\\';
      width = 1;
    }
    map[k++] = bs;
    parts.push(decoded);
    from = bs + width;
    bs = s.indexOf('\\', from);
  }
  for (let i = from; i < s.length; i++) map[k++] = i;
  parts.push(s.slice(from));
  map[k] = s.length;
  return { text: parts.join(''), map: map.subarray(0, k + 1) };
}

/**
 * The escapes of a JSON text wrapped in more levels of quoting, decoded at once: a JSON
 * value inside a record or array literal (record_out and array_out double its
 * backslashes), inside one of those again, or inside a JSON string, spells "\u0041" as
 * "\\u0041", "\\\\u0041" ...; read one level at a time, that is an escaped backslash and
 * a plain "u0041". Here a run of backslashes before an escape's letter stands for that
 * escape: "\\u0041" reads "A", "\\\\n" a line break. Null unless some run of two or
 * more precedes an escape's letter. The scanner reads text this way when the prefilter
 * set every bit (a "u" or "/" after a run); its positions differ from the text's. Any
 * other run stays as written; map[k] is the original index where decoded
 * unit k starts (a run's first backslash), map[text.length] the original length, so a
 * hit mapped back covers whole runs and never leaves part of one behind.
 */
export function unescapeNestedJsonText(s: string): Unescaped | null {
  if (s.indexOf('\\\\') < 0) return null;
  const map = new Int32Array(s.length + 1);
  const parts: string[] = [];
  let k = 0;
  let from = 0;
  let nested = false;
  for (let bs = s.indexOf('\\'); bs >= 0; bs = s.indexOf('\\', from)) {
    for (let i = from; i < bs; i++) map[k++] = i;
    parts.push(s.slice(from, bs));
    let r = bs;
    while (r < s.length && s.charCodeAt(r) === 0x5c) r++;
    const c = s.charCodeAt(r);
    let decoded = simpleEscape(c);
    let after = r + 1;
    if (decoded === undefined && c === 0x75) {
      const h = (hexValue(s.charCodeAt(r + 1)) << 12) | (hexValue(s.charCodeAt(r + 2)) << 8) | (hexValue(s.charCodeAt(r + 3)) << 4) | hexValue(s.charCodeAt(r + 4));
      if (h >= 0) {
        decoded = String.fromCharCode(h);
        after = r + 5;
      }
    }
    if (decoded === undefined) {
      // Not before an escape's letter: the run stays as written, one unit (a hit never
      // starts or ends inside it, where it would split an escaped backslash).
      for (let i = bs; i < r; i++) map[k++] = bs;
      parts.push(s.slice(bs, r));
      from = r;
    } else {
      if (r - bs >= 2) nested = true;
      map[k++] = bs;
      parts.push(decoded);
      from = after;
    }
  }
  if (!nested) return null;
  for (let i = from; i < s.length; i++) map[k++] = i;
  parts.push(s.slice(from));
  map[k] = s.length;
  return { text: parts.join(''), map: map.subarray(0, k + 1) };
}
