// vitest globalSetup for the integration project: one real Postgres (statement logging
// on, tracegate_demo loaded) and one development OIDC issuer for the whole run, handed to
// the test files through provide('env'); the returned teardown stops both.

import type { TestProject } from 'vitest/node';
import { demoClients, startDevIssuer } from '../../src/demo/dev-issuer.js';
import type { DevIssuer } from '../../src/demo/dev-issuer.js';
import { loadDemoDatabase, startPostgres } from './postgres.js';
import type { RunningPostgres } from './postgres.js';
import type { TestEnv } from './test-env.js';

export const TEST_AUDIENCE = 'tracegate';

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  let postgres: RunningPostgres | undefined;
  let issuer: DevIssuer | undefined;
  const teardown = async (): Promise<void> => {
    await Promise.allSettled([issuer?.close(), postgres?.stop()]);
  };
  try {
    [postgres, issuer] = await Promise.all([
      startPostgres({ logStatements: true }),
      startDevIssuer({ audience: TEST_AUDIENCE, clients: demoClients() }),
    ]);
    const demo = await loadDemoDatabase(postgres);
    const env: TestEnv = {
      pg: {
        host: postgres.host,
        port: postgres.port,
        superuser: postgres.superuser,
        superPassword: postgres.superPassword,
        database: demo.database,
        proxyUser: demo.proxyUser,
        proxyPassword: demo.proxyPassword,
        logFile: postgres.logFile,
      },
      oidc: {
        issuer: issuer.issuer,
        jwksUri: issuer.jwksUri,
        tokenEndpoint: issuer.tokenEndpoint,
        audience: issuer.audience,
        privateJwk: issuer.privateJwk,
        clients: issuer.clients.map((c) => ({ clientId: c.clientId, clientSecret: c.clientSecret, groups: [...c.groups] })),
      },
    };
    project.provide('env', env);
  } catch (err) {
    await teardown();
    throw err;
  }
  if (process.env['TRACEGATE_TEST_VERBOSE']) {
    console.log(`integration env ready in ${Date.now() - started} ms (postgres ${postgres.engine} :${postgres.port}, issuer ${issuer.issuer})`);
  }
  return teardown;
}
