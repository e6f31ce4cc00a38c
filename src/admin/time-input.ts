// Times as admins type them: an ISO 8601 instant ("2026-01-31T12:00:00Z"), epoch
// milliseconds, or a duration relative to now ("2h", "30m", "1d", "2w", the same forms
// as `tracegate sessions list --since`): ahead of now for a revocation's `until`,
// behind now for a search's `since`.
import { parseDuration } from '../audit/time-spec.js';

export type Direction = 'ahead' | 'behind';

/** Epoch ms, or undefined when the text is none of the accepted forms. */
export function parseTimeInput(value: string | number, now: number, direction: Direction): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const duration = parseDuration(text);
  if (duration !== null) return direction === 'ahead' ? now + duration : now - duration;
  // Date.parse also accepts loose forms ("Jan 2"); an instant must name its date fully.
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at;
}
