// Test helpers for masking: what one detector finds in a text, and DataRow frames built
// and read back independently of the code under test (the protocol decoder reads them).
import { readDataRowFields } from '../../../protocol/backend.js';
import type { FieldDescription } from '../../../protocol/backend.js';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { Scanner } from '../../../src/masking/scanner.js';
import type { DetectorKind } from '../../../src/masking/types.js';

/** The substrings detectors of `kind` report in `text`, as written (no escape handling). */
export function found(kind: DetectorKind, text: string, hint?: string): string[] {
  const scanner = new Scanner(ALL_DETECTORS.filter((d) => d.kind === kind));
  return scanner.find(text, hint).map((m) => text.slice(m.start, m.end));
}

/** Every (kind, substring) all detectors report, after overlap resolution. */
export function foundAll(text: string, hint?: string): Array<[DetectorKind, string]> {
  return new Scanner(ALL_DETECTORS).find(text, hint).map((m) => [m.kind, text.slice(m.start, m.end)]);
}

export function dataRow(fields: ReadonlyArray<Buffer | string | null>): Buffer {
  const parts = fields.map((f) => (f === null ? null : typeof f === 'string' ? Buffer.from(f, 'utf8') : f));
  const size = 7 + parts.reduce((a, p) => a + 4 + (p ? p.length : 0), 0);
  const out = Buffer.alloc(size);
  out[0] = 0x44;
  out.writeInt32BE(size - 1, 1);
  out.writeUInt16BE(parts.length, 5);
  let o = 7;
  for (const p of parts) {
    o = out.writeInt32BE(p ? p.length : -1, o);
    if (p) o += p.copy(out, o);
  }
  return out;
}

/** Decodes a DataRow with the protocol codec, which checks every length. */
export function rowFields(frame: Buffer): Array<Buffer | null> {
  return readDataRowFields(frame);
}

export function rowTexts(frame: Buffer): Array<string | null> {
  return rowFields(frame).map((f) => (f === null ? null : f.toString('utf8')));
}

export function field(name: string, typeOid: number, opts: Partial<FieldDescription> = {}): FieldDescription {
  return { name, tableOid: 0, columnNumber: 0, typeOid, typeSize: -1, typeModifier: -1, format: 0, ...opts };
}
