// The one error type the codec throws: malformed or unsupported wire input. It carries
// the SQLSTATE the session reports to the client; it never carries the offending bytes,
// which may hold secrets (a password message) or be arbitrarily large.
import { SqlState, type SqlStateCode } from './sqlstate.js';

export class ProtocolError extends Error {
  readonly code: SqlStateCode;

  constructor(message: string, code: SqlStateCode = SqlState.ProtocolViolation) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}
