// A masked field as replacements of ranges of its own bytes, so the row writes it
// straight into its output frame: no masked string to build and encode, no masked copy
// of the field to copy again. Only for text that is ASCII (string positions are byte
// offsets) with ASCII replacements (markers, or markers in quotes).
//
// Copies go through TypedArray.prototype.set on a view: Buffer.prototype.copy checks its
// arguments in JS and then crosses into C++, about twice the cost per call here, and a
// row makes one call per edit.
import type { Edit } from './json-masker.js';

const SHORT_COPY = 32;

export class ByteEdits {
  /**
   * `edits`: sorted, disjoint, ASCII text, positions counted from `offset` in the
   * field's buffer. `size`: the field's length once edited.
   */
  constructor(
    readonly edits: readonly Edit[],
    readonly offset: number,
    readonly size: number,
  ) {}
}

/** The edits that replace ranges of text at `offset`, for a field of `length` bytes. */
export function byteEdits(edits: readonly Edit[], offset: number, length: number): ByteEdits {
  let size = length;
  for (const e of edits) size += e.text.length - (e.end - e.start);
  return new ByteEdits(edits, offset, size);
}

/** Copies bytes [from, to) of `src` into `out` at `o`; returns the offset after them. */
export function copyBytes(src: Buffer, from: number, to: number, out: Buffer, o: number): number {
  const n = to - from;
  // A few bytes (the row header, short fields between changed ones) cost less copied
  // one by one than a view made for them.
  if (n <= SHORT_COPY) {
    for (let k = 0; k < n; k++) out[o + k] = src[from + k] as number;
  } else {
    out.set(new Uint8Array(src.buffer, src.byteOffset + from, n), o);
  }
  return o + n;
}

/** Field [start, end) of `src` with `r` applied, written into `out` at `o`; returns the offset after it. */
export function writeEdited(src: Buffer, start: number, end: number, r: ByteEdits, out: Buffer, o: number): number {
  let at = start;
  for (const e of r.edits) {
    o = copyBytes(src, at, r.offset + e.start, out, o);
    const t = e.text;
    for (let k = 0; k < t.length; k++) out[o + k] = t.charCodeAt(k);
    o += t.length;
    at = r.offset + e.end;
  }
  return copyBytes(src, at, end, out, o);
}

/** Field [start, end) of `src` with `r` applied, as a Buffer of its own. */
export function editedBytes(src: Buffer, start: number, end: number, r: ByteEdits): Buffer {
  const out = Buffer.allocUnsafe(r.size);
  writeEdited(src, start, end, r, out, 0);
  return out;
}
