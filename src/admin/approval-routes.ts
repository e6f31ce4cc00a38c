// The approval queue over HTTP: list and show for approvers and admins, approve and deny
// for the configured approver groups. The broker applies the request's own rule (its
// approver groups, no self-approval, distinct quorum) and records every step; these
// routes only authenticate, parse and translate its typed refusals into statuses.
import { z } from 'zod';
import { ApprovalError } from '../approvals/approval-error.js';
import type { AdminApprovals } from './deps.js';
import { badRequest, HttpError, json, readJsonBody } from './http.js';
import type { Route, RouteContext } from './router.js';

const BODY_LIMIT = 16 * 1024;

const voteBody = z
  .object({ reason: z.string().max(500, 'reason is limited to 500 characters').optional() })
  .strict()
  .optional();

export function approvalRoutes(approvals: AdminApprovals): Route[] {
  const vote = (kind: 'approve' | 'deny') => async (ctx: RouteContext) => {
    const body = voteBody.safeParse(await readJsonBody(ctx.req, BODY_LIMIT));
    if (!body.success) throw badRequest(body.error.issues);
    const caller = ctx.caller;
    if (!caller) throw new HttpError(401, 'unauthenticated', 'an approver must be authenticated');
    const id = ctx.params['id'] as string;
    try {
      const view = kind === 'approve' ? await approvals.approve(id, caller, body.data?.reason) : await approvals.deny(id, caller, body.data?.reason);
      return json({ approval: view });
    } catch (err) {
      if (err instanceof ApprovalError) throw new HttpError(err.status, err.code, err.message);
      throw err;
    }
  };

  return [
    { method: 'GET', path: '/api/approvals', access: 'staff', handle: async () => json({ approvals: await approvals.list() }) },
    {
      method: 'GET',
      path: '/api/approvals/:id',
      access: 'staff',
      handle: async (ctx) => {
        const id = ctx.params['id'] as string;
        const view = await approvals.get(id);
        if (!view) throw new HttpError(404, 'not-found', `no approval request ${id}`);
        return json({ approval: view });
      },
    },
    { method: 'POST', path: '/api/approvals/:id/approve', access: 'approvers', handle: vote('approve') },
    { method: 'POST', path: '/api/approvals/:id/deny', access: 'approvers', handle: vote('deny') },
  ];
}
