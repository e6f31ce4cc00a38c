import { defineConfig } from 'vitest/config';

// A run of one check file (RUN_CHECK: `fails` or `passes`) with the integration
// project's Postgres helper in its global setup: test/unit/ci/exit-code.test.ts checks
// that the run's exit code says whether its test passed.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: [`${process.env['RUN_CHECK'] ?? 'fails'}-on-purpose.check.ts`],
    globalSetup: ['setup.ts'],
    hookTimeout: 120_000,
  },
});
