// Parses the times the CLI and the admin API accept: an ISO 8601 date or date-time, or a
// relative duration (30d, 12h, 15m, 45s, 2w, 500ms) meaning that long before `now`.
// It must not read the clock: `now` is passed in.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h|d|w)$/;

/** Milliseconds, or null when `text` is not a duration. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** Epoch milliseconds; throws a RangeError naming the accepted forms. */
export function parseTimeSpec(text: string, now: number): number {
  const duration = parseDuration(text);
  if (duration !== null) return now - duration;
  // Only date-shaped text goes to Date.parse, which otherwise accepts odd forms ("1").
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const ms = Date.parse(text.trim());
    if (!Number.isNaN(ms)) return ms;
  }
  throw new RangeError(`invalid time "${text}": use an ISO date (2025-03-01, 2025-03-01T12:00:00Z) or a duration (30d, 12h, 15m)`);
}
