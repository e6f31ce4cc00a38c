// Text-format records ("(t-1,alice@x.com,,\"a \"\"b\"\"\")"): a whole-row reference such
// as SELECT t FROM traces t (the table's row type) or ROW(...) (an anonymous record),
// masked field by field. An empty field is NULL, a quoted one doubles '"' and '\'
// (record_out). Changed fields are re-quoted; unchanged ones keep their exact text.
import type { ElementMask } from './array-text.js';

function quote(s: string): string {
  return '"' + s.replace(/["\\]/g, '$&$&') + '"';
}

/**
 * The masked literal, the same string when nothing changed, or null if `s` is not a
 * record literal (of `fields` fields, when that is known).
 */
export function maskRecordText(s: string, mask: ElementMask, fields?: number): string | null {
  if (s.charCodeAt(0) !== 0x28 || s.charCodeAt(s.length - 1) !== 0x29) return null;
  let out = '';
  let from = 0;
  let i = 1;
  let index = 0;
  for (;;) {
    const start = i;
    let text = '';
    let isNull = true;
    while (i < s.length - 1 && s.charCodeAt(i) !== 0x2c) {
      isNull = false;
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        for (;;) {
          if (i >= s.length - 1) return null;
          const q = s.charCodeAt(i);
          if (q === 0x22 && s.charCodeAt(i + 1) === 0x22) {
            text += '"';
            i += 2;
          } else if (q === 0x22) {
            i++;
            break;
          } else if (q === 0x5c) {
            text += s[i + 1] ?? '';
            i += 2;
          } else {
            text += s[i];
            i++;
          }
        }
      } else {
        if (c === 0x5c) i++;
        text += s[i] ?? '';
        i++;
      }
    }
    if (!isNull) {
      const masked = mask(text, index);
      if (masked !== undefined) {
        out += s.slice(from, start) + (masked === null ? '' : quote(masked));
        from = i;
      }
    }
    index++;
    if (i >= s.length - 1) break;
    i++;
  }
  if (fields !== undefined && index !== fields) return null;
  return from === 0 ? s : out + s.slice(from);
}
