// Client-side messages the proxy sends to the upstream server. pg-protocol already
// serialises these correctly, so they are re-exported rather than rewritten; startup
// always adds client_encoding=UTF8, which the strict UTF-8 decoding elsewhere relies on.
export { serialize } from 'pg-protocol';
