// Text renderings of the binary-format numbers detectors must still see: int8 and
// numeric can hold a card number, and in binary format its digits are not in the bytes.
// The rendering matches what the text format would have sent, so a value is judged the
// same in both formats. Malformed input renders as null (the caller fails closed).

export function int8Text(buf: Buffer, start: number, end: number): string | null {
  if (end - start !== 8) return null;
  return buf.readBigInt64BE(start).toString();
}

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** numeric_send: int16 ndigits, int16 weight, uint16 sign, int16 dscale, base-10000 digits. */
export function numericText(buf: Buffer, start: number, end: number): string | null {
  if (end - start < 8) return null;
  const ndigits = buf.readInt16BE(start);
  const weight = buf.readInt16BE(start + 2);
  const sign = buf.readUInt16BE(start + 4);
  const dscale = buf.readInt16BE(start + 6);
  if (ndigits < 0 || dscale < 0 || end - start !== 8 + ndigits * 2) return null;
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) return null;
  const digit = (k: number): number => (k >= 0 && k < ndigits ? buf.readInt16BE(start + 8 + k * 2) : 0);
  let int = '';
  for (let k = 0; k <= weight; k++) int += k === 0 ? String(digit(k)) : String(digit(k)).padStart(4, '0');
  if (int === '') int = '0';
  let frac = '';
  for (let k = weight + 1; frac.length < dscale; k++) frac += String(digit(k)).padStart(4, '0');
  frac = frac.slice(0, dscale);
  return (sign === NUMERIC_NEG ? '-' : '') + int + (frac === '' ? '' : '.' + frac);
}
