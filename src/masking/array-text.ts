// Text-format arrays ("{alice@x.com,\"b c\",NULL}", "[0:1]={a,b}", nested "{{a},{b}}"),
// masked element by element. Unchanged elements keep their exact text; a changed one is
// re-quoted, and an element masked to NULL is written NULL. Only the server's own output
// form (array_out) has to be read: delimiter ',', elements quoted when they need it.

/** Masks one decoded element (the `index`-th): a new text, null for NULL, or undefined for unchanged. */
export type ElementMask = (text: string, index: number) => string | null | undefined;

function quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, '\\$&') + '"';
}

/** The masked literal, the same string when nothing changed, or null if `s` is not an array literal. */
export function maskArrayText(s: string, mask: ElementMask): string | null {
  let i = 0;
  if (s.charCodeAt(0) === 0x5b) {
    // Dimension decoration "[lb:ub]...=" precedes the braces when a lower bound is not 1.
    i = s.indexOf('=') + 1;
    if (i === 0) return null;
  }
  if (s.charCodeAt(i) !== 0x7b) return null;
  let out = '';
  let from = 0;
  let depth = 0;
  let index = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x7b) {
      depth++;
      i++;
      continue;
    }
    if (c === 0x7d) {
      depth--;
      i++;
      if (depth === 0) break;
      continue;
    }
    if (c === 0x2c) {
      i++;
      continue;
    }
    const start = i;
    let text: string;
    if (c === 0x22) {
      text = '';
      i++;
      while (i < s.length && s.charCodeAt(i) !== 0x22) {
        if (s.charCodeAt(i) === 0x5c) i++;
        text += s[i] ?? '';
        i++;
      }
      if (i >= s.length) return null;
      i++;
    } else {
      while (i < s.length && s.charCodeAt(i) !== 0x2c && s.charCodeAt(i) !== 0x7d) i++;
      text = s.slice(start, i);
      if (text === 'NULL') {
        index++;
        continue;
      }
    }
    const masked = mask(text, index++);
    if (masked !== undefined) {
      out += s.slice(from, start) + (masked === null ? 'NULL' : quote(masked));
      from = i;
    }
  }
  if (depth !== 0 || i !== s.length) return null;
  return from === 0 ? s : out + s.slice(from);
}
