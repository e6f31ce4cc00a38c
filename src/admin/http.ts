// The admin server's HTTP plumbing: replies, JSON bodies with a size cap, and the error
// shape every route answers with ({ error, message }). Nothing here knows a route.
// Error messages are written for the caller; internal errors never reach this shape
// with their text (the server turns them into `internal` with a correlation id).
import type { IncomingMessage, ServerResponse } from 'node:http';

type Headers = Readonly<Record<string, string>>;

export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Headers = {},
  ) {
    super(message);
  }
}

export type Reply =
  | { readonly kind: 'json'; readonly status: number; readonly body: unknown; readonly headers?: Headers }
  | { readonly kind: 'text'; readonly status: number; readonly contentType: string; readonly body: string | Buffer; readonly headers?: Headers };

export const json = (body: unknown, status = 200): Reply => ({ kind: 'json', status, body });
export const text = (body: string, contentType = 'text/plain; charset=utf-8', headers: Headers = {}): Reply => ({
  kind: 'text',
  status: 200,
  contentType,
  body,
  headers,
});

// Every response: no sniffing, no referrer leaks, and nothing cached by default (API
// answers carry session data); the static page overrides caching for itself.
const BASE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

export function send(res: ServerResponse, reply: Reply, headers: Headers = {}): void {
  const body = reply.kind === 'json' ? jsonText(reply.body) : reply.body;
  const contentType = reply.kind === 'json' ? 'application/json; charset=utf-8' : reply.contentType;
  res.writeHead(reply.status, {
    ...BASE_HEADERS,
    ...reply.headers,
    ...headers,
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  send(res, json({ error: err.code, message: err.message }, err.status), err.headers);
}

/**
 * Recorded responses hold binary column values as bytes; JSON has no bytes, so they go
 * out as { base64 } objects, which the page and the CLI show as such.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? { base64: Buffer.from(v).toString('base64') } : v));
}

/** A 400 naming each invalid field (schema issues: zod's, or any with path and message). */
export function badRequest(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[]): HttpError {
  const text = issues.map((i) => (i.path.length === 0 ? i.message : `${i.path.map(String).join('.')}: ${i.message}`)).join('; ');
  return new HttpError(400, 'bad-request', text || 'the request body is not valid');
}

/** The request body as JSON, or undefined when there is none. Over `limit` bytes: 413. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new HttpError(413, 'body-too-large', `the request body is limited to ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'body-too-large', `the request body is limited to ${limit} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, 'unsupported-media-type', 'send the request body as application/json');
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'bad-json', 'the request body is not valid JSON');
  }
}
