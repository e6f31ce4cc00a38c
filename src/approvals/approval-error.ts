// Why an approver's action was refused, with the HTTP status the admin API answers it
// with. The message is safe to show the approver: it names the request and the rule that
// refused, never the requester's token or claims.

export const APPROVAL_ERROR_CODES = {
  'not-found': 404,
  'not-an-approver': 403,
  'self-approval': 403,
  'already-decided': 409,
  'already-voted': 409,
  'unrecorded': 503,
} as const;

export type ApprovalErrorCode = keyof typeof APPROVAL_ERROR_CODES;

export class ApprovalError extends Error {
  override readonly name = 'ApprovalError';
  readonly status: (typeof APPROVAL_ERROR_CODES)[ApprovalErrorCode];

  constructor(
    readonly code: ApprovalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = APPROVAL_ERROR_CODES[code];
  }
}
