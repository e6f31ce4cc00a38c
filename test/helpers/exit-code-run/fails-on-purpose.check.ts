import { expect, test } from 'vitest';

test('fails on purpose', () => {
  expect('this run').toBe('a failed one');
});
