// The one boundary where anything that goes wrong becomes what a client sees. Every
// client-facing error is a ClientError with a SQLSTATE from SPEC section 9; anything
// else is an internal fault: the client gets XX000 with a correlation id and the details
// go to the log only, so no stack trace, row value, token or credential leaks.
import { randomUUID } from 'node:crypto';

export const Severity = { Error: 'ERROR', Fatal: 'FATAL' } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

export interface ClientErrorOptions {
  readonly detail?: string;
  readonly hint?: string;
  /** The decision, request or correlation id the auditor will find the same record by. */
  readonly reference?: string;
}

export class ClientError extends Error {
  constructor(
    readonly sqlstate: string,
    readonly severity: Severity,
    message: string,
    readonly options: ClientErrorOptions = {},
  ) {
    super(message);
    this.name = 'ClientError';
  }

  get fatal(): boolean {
    return this.severity === Severity.Fatal;
  }
}

export const fatal = (sqlstate: string, message: string, options?: ClientErrorOptions): ClientError =>
  new ClientError(sqlstate, Severity.Fatal, message, options);

export const error = (sqlstate: string, message: string, options?: ClientErrorOptions): ClientError =>
  new ClientError(sqlstate, Severity.Error, message, options);

/** A session's token expired: the session ends before its next statement runs (SPEC section 1). */
export const tokenExpired = (): ClientError => fatal('28000', 'token expired: reconnect with a fresh access token');

export interface ErrorFieldsOut {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  [k: string]: string | undefined;
}

/**
 * Turns any thrown value into ErrorResponse fields. `internal` receives what must stay
 * server-side (unknown errors) with the correlation id shown to the client.
 */
export function toErrorFields(err: unknown, internal: (correlationId: string, err: unknown) => void): { fields: ErrorFieldsOut; fatal: boolean } {
  if (err instanceof ClientError) {
    const ref = err.options.reference;
    const fields: ErrorFieldsOut = {
      severity: err.severity,
      code: err.sqlstate,
      message: ref === undefined ? err.message : `${err.message} (${ref})`,
    };
    if (err.options.detail !== undefined) fields.detail = err.options.detail;
    if (err.options.hint !== undefined) fields.hint = err.options.hint;
    return { fields, fatal: err.fatal };
  }
  if (err instanceof Error && 'code' in err && err.name === 'ProtocolError') {
    // Malformed input from the client: Postgres closes such connections too.
    const code = String((err as { code: unknown }).code);
    return { fields: { severity: Severity.Fatal, code, message: err.message }, fatal: true };
  }
  const correlationId = randomUUID();
  internal(correlationId, err);
  return {
    fields: { severity: Severity.Fatal, code: 'XX000', message: `internal error (correlation id ${correlationId})` },
    fatal: true,
  };
}
