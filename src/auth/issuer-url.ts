// Transport rule for the issuer and its JWKS: https://, or http:// only to a loopback
// host (a development issuer on the same machine). Anything else could let a network
// attacker substitute the signing keys, so it is refused at configuration time.

import { isIP } from 'node:net';

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host.startsWith('::ffff:127.') || host === '::ffff:7f00:1';
}

/** Returns the parsed URL, or throws naming what is wrong with it. */
export function assertIssuerUrlAllowed(url: string, what = 'issuer'): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${what} is not a valid URL`);
  }
  if (parsed.username || parsed.password) throw new TypeError(`${what} must not carry credentials`);
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:' && isLoopback(parsed.hostname)) return parsed;
  if (parsed.protocol === 'http:') throw new TypeError(`${what} must be https:// (http:// is accepted only on loopback)`);
  throw new TypeError(`${what} must be an https:// URL`);
}

export function isLoopbackUrl(url: URL): boolean {
  return isLoopback(url.hostname);
}
