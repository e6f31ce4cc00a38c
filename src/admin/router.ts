// The admin server's routing table: method, path pattern with `:param` segments, who may
// call it, and the handler. Kept deliberately small and explicit (no framework): the
// whole surface is one list a reviewer can read, each entry naming its access rule.
import type { IncomingMessage } from 'node:http';
import type { Identity } from '../identity.js';
import type { Reply } from './http.js';

/**
 * public: anyone who reaches the port; authenticated: any valid token; approvers / admins:
 * a valid token in the configured groups; staff: approvers or admins.
 */
export type Access = 'public' | 'authenticated' | 'approvers' | 'admins' | 'staff';

export interface RouteContext {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly params: Readonly<Record<string, string>>;
  /** The verified caller; null only on public routes. */
  readonly caller: Identity | null;
}

export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly access: Access;
  /**
   * A GET whose answer is given once (a credential's one delivery): HEAD would spend it
   * without showing it, so HEAD is refused (405) instead of run without its body.
   */
  readonly deliversOnce?: boolean;
  handle(ctx: RouteContext): Reply | Promise<Reply>;
}

export type RouteMatch =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

// Ids here are UUIDs and subjects are short; anything else in a path slot is not ours.
const PARAM = /^[A-Za-z0-9._:@-]{1,200}$/;

interface Compiled {
  readonly route: Route;
  readonly segments: readonly string[];
}

export class Router {
  private readonly compiled: readonly Compiled[];

  /** First match wins: list literal paths before parameterised siblings. */
  constructor(routes: readonly Route[]) {
    this.compiled = routes.map((route) => ({ route, segments: route.path.split('/').slice(1) }));
  }

  match(method: string, pathname: string): RouteMatch {
    const parts = pathname.split('/').slice(1);
    const allow = new Set<string>();
    // HEAD is GET without a body (http.ts leaves the body out).
    const wanted = method === 'HEAD' ? 'GET' : method;
    for (const { route, segments } of this.compiled) {
      const params = matchSegments(segments, parts);
      if (!params) continue;
      if (route.method === wanted && !(method === 'HEAD' && route.deliversOnce === true)) return { kind: 'found', route, params };
      allow.add(route.method);
    }
    return allow.size > 0 ? { kind: 'method-not-allowed', allow: [...allow] } : { kind: 'not-found' };
  }
}

function matchSegments(pattern: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] as string;
    const got = parts[i] as string;
    if (!want.startsWith(':')) {
      if (want !== got) return undefined;
      continue;
    }
    let value: string;
    try {
      value = decodeURIComponent(got);
    } catch {
      return undefined;
    }
    if (!PARAM.test(value)) return undefined;
    params[want.slice(1)] = value;
  }
  return params;
}
