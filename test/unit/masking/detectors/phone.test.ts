import { describe, expect, it } from 'vitest';
import { found } from '../helpers.js';

describe('phone detector', () => {
  it.each([
    ['call +1 415 555 2671 now', '+1 415 555 2671'],
    ['+14155552671', '+14155552671'],
    ['UK +44 20 7946 0958.', '+44 20 7946 0958'],
    ['+44 (0)20 7946 0958', '+44 (0)20 7946 0958'],
    ['DE +49-30-1234567', '+49-30-1234567'],
    ['(415) 555-2671', '(415) 555-2671'],
    ['415-555-2671', '415-555-2671'],
    ['415.555.2671', '415.555.2671'],
    ['415 555 2671', '415 555 2671'],
    ['toll free 1-800-555-0199', '1-800-555-0199'],
    ['tel:415-555-2671', '415-555-2671'],
    ['London 020 7946 0958', '020 7946 0958'],
    ['mobile 07700 900123', '07700 900123'],
    ['Berlin 030 1234567', '030 1234567'],
    ['Paris 01 23 45 67 89', '01 23 45 67 89'],
  ])('finds %j', (text, phone) => {
    expect(found('phone', text)).toEqual([phone]);
  });

  it.each([
    ['a 10-digit id', 'user 4155552671 logged in'],
    ['an ISO date', 'on 2024-01-15 at noon'],
    ['a European date', '15-01-2024 and 01.02.2024'],
    ['a timestamp', '2024-05-01T12:34:56.789Z'],
    ['a time range', '10:00-11:30'],
    ['a version string', 'v1.2.3 and 10.2.1234'],
    ['a UUID', '123e4567-e89b-12d3-a456-426614174000'],
    ['an order number', 'ORD-415-555-2671 and INV-2024-000123'],
    ['mixed separators', '415-555.2671'],
    ['an epoch in ms', '1714567890123'],
    ['a short international number', '+1 23'],
    ['a plus expression', 'x+12345678'],
    ['an IPv4 address', '192.168.100.200'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('phone', text)).toEqual([]);
  });
});
