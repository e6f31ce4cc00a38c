import { defineConfig } from 'vitest/config';

// A run whose one test fails, with the integration project's Postgres helper in its
// global setup: test/unit/ci/exit-code.test.ts checks that such a run exits 1.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['fails-on-purpose.check.ts'],
    globalSetup: ['setup.ts'],
    hookTimeout: 120_000,
  },
});
