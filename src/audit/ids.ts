// Record ids: UUIDv7 strings (RFC 9562), time-ordered at millisecond precision so that
// ids sort roughly by creation in any store, and unique across proxy instances without
// coordination. Callers pass `now` so tests stay deterministic in their timestamps.
import { randomUUID } from 'node:crypto';

export function newId(now: number = Date.now()): string {
  const ts = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  // randomUUID is a v4 (random) UUID: keep its random bits and variant, put the time in
  // the first 48 bits and set the version nibble (position 14) to 7.
  const random = randomUUID();
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${random.slice(15)}`;
}
