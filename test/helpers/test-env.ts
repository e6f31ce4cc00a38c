// The environment the integration global setup provides to every test file: where the
// shared upstream Postgres and the development OIDC issuer are, and their secrets.
// Plain data only: vitest serialises it from the setup process into each worker.

import type { JWK } from 'jose';

export interface TestEnv {
  readonly pg: {
    readonly host: string;
    readonly port: number;
    readonly superuser: string;
    readonly superPassword: string;
    readonly database: 'tracegate_demo';
    /** The proxy's own upstream login role (SCRAM, SELECT on the demo tables). */
    readonly proxyUser: string;
    readonly proxyPassword: string;
    /** Every statement the upstream runs is logged here (see upstreamStatements). */
    readonly logFile: string | undefined;
  };
  readonly oidc: {
    readonly issuer: string;
    readonly jwksUri: string;
    readonly tokenEndpoint: string;
    readonly audience: string;
    readonly privateJwk: JWK;
    readonly clients: readonly { readonly clientId: string; readonly clientSecret: string; readonly groups: readonly string[] }[];
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    env: TestEnv;
  }
}
