// Bounds on what the analyser takes on, in a module of their own so that the config
// schema can name the defaults without loading the parser.

/**
 * The longest statement text analysed by default (config `limits.maxStatementSize`).
 * Parsing runs on the event loop every session shares, at about 2 to 4 µs per byte of
 * dense SQL (a 47 KB select list took 155 ms): without a bound, one client could stall
 * every other for seconds with each statement it sends.
 */
export const DEFAULT_MAX_STATEMENT_BYTES = 64 * 1024;
