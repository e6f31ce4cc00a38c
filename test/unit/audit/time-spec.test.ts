import { expect, test } from 'vitest';
import { parseDuration, parseTimeSpec } from '../../../src/audit/time-spec.js';

const NOW = Date.parse('2025-03-31T00:00:00Z');

test('durations and times', () => {
  expect(parseDuration('30d')).toBe(30 * 86_400_000);
  expect(parseDuration('12h')).toBe(12 * 3_600_000);
  expect(parseDuration('15m')).toBe(15 * 60_000);
  expect(parseDuration('500ms')).toBe(500);
  expect(parseDuration('1.5d')).toBeNull();
  expect(parseTimeSpec('1d', NOW)).toBe(Date.parse('2025-03-30T00:00:00Z'));
  expect(parseTimeSpec('2025-03-01', NOW)).toBe(Date.parse('2025-03-01T00:00:00Z'));
  expect(parseTimeSpec('2025-03-01T12:00:00Z', NOW)).toBe(Date.parse('2025-03-01T12:00:00Z'));
  expect(parseTimeSpec('2025-03-01T12:00:00+02:00', NOW)).toBe(Date.parse('2025-03-01T10:00:00Z'));
  for (const bad of ['yesterday', '1', '', '30 days', '2025-13-45']) {
    expect(() => parseTimeSpec(bad, NOW)).toThrow(RangeError);
  }
});
