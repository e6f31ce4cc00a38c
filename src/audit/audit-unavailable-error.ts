// The one error a durable audit write fails with. The session turns it into SQLSTATE
// 58030 and does not run the statement (SPEC section 6: fail closed). It carries the
// store's own error as `cause` for the log; that cause must never reach a client.

export class AuditUnavailableError extends Error {
  readonly sqlstate = '58030';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditUnavailableError';
  }
}
