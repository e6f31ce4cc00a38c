import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, codec fixtures, fuzz) needs nothing running;
// `integration` shares one real Postgres and one real OIDC issuer, started once by the
// global setup, and each test file starts its own proxy on a free loopback port.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/fuzz/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
