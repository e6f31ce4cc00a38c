// What the approval tests share: the admin API as an approver calls it, and a read that
// pauses for approval, with the request id its notice names.
import type pg from 'pg';

export async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/** Starts a query and resolves with the approval request id from the notice it gets. */
export function pausedRead(
  client: pg.Client,
  traceId: string,
): { id: Promise<string>; result: Promise<pg.QueryResult | { code?: string; severity?: string; message: string }> } {
  const id = new Promise<string>((resolve) => {
    client.once('notice', (n) => {
      const m = /request ([0-9a-f-]{36})/.exec(n.message ?? '');
      if (m?.[1]) resolve(m[1]);
    });
  });
  const result = client.query('SELECT trace_id, risk FROM traces WHERE trace_id = $1', [traceId]).catch((e: unknown) => ({
    code: (e as { code?: string }).code,
    severity: (e as { severity?: string }).severity,
    message: (e as Error).message,
  }));
  return { id, result };
}
