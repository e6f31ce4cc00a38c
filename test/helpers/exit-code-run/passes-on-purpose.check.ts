import { expect, test } from 'vitest';

test('passes on purpose', () => {
  expect('this run').toBe('this run');
});
