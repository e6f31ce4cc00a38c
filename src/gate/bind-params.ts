// Bind parameter values as the text the policy decides on. The invariant: the text we
// hand the policy is exactly the value the server will compare, or the statement is
// refused. Text-format values are the client's text (strict UTF-8, as the server reads
// them); binary values are decoded only for types whose binary form is unambiguous.
import { decodeUtf8Strict } from '../../protocol/strict-utf8.js';
import { ProtocolError } from '../../protocol/index.js';
import { error } from '../errors.js';

const TEXTUAL = new Set([25, 1043, 1042, 19, 705]); // text, varchar, bpchar, name, unknown

export function paramsAsText(
  params: readonly (Buffer | null)[],
  formats: readonly number[],
  types: readonly number[],
): (string | null)[] {
  return params.map((value, i) => {
    if (value === null) return null;
    const format = formats.length === 1 ? formats[0] : (formats[i] ?? 0);
    if (format === 0) return decodeUtf8Strict(value, 0, value.length);
    return binaryAsText(value, types[i] ?? 0, i + 1);
  });
}

function binaryAsText(value: Buffer, type: number, position: number): string {
  if (TEXTUAL.has(type)) return decodeUtf8Strict(value, 0, value.length);
  switch (type) {
    case 16:
      if (value.length !== 1) break;
      return value[0] ? 'true' : 'false';
    case 21:
      if (value.length !== 2) break;
      return String(value.readInt16BE(0));
    case 23:
      if (value.length !== 4) break;
      return String(value.readInt32BE(0));
    case 20:
      if (value.length !== 8) break;
      return value.readBigInt64BE(0).toString();
    default:
      // Without a declared type the server infers one from the statement, and we cannot
      // know how it will read the bytes; refuse rather than guess.
      throw error('0A000', `binary format for parameter $${position} of type ${type} is not supported by tracegate; send it in text format`);
  }
  throw new ProtocolError(`invalid binary value for parameter $${position}`);
}
