import { defineConfig } from 'vitest/config';

// Integration tests share one real Postgres and one real OIDC issuer, started once by
// the global setup; each test file starts its own proxy on a free loopback port.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
