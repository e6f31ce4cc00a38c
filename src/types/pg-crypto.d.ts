// Types for the two internal modules of `pg` we reuse for upstream authentication
// (its SCRAM-SHA-256 client and its md5 password hash), so we do not write our own.
declare module 'pg/lib/crypto/sasl.js' {
  interface ScramSession {
    mechanism: string;
    clientNonce: string;
    response: string;
    message: string;
  }
  const sasl: {
    startSession(mechanisms: string[], stream?: unknown): ScramSession;
    continueSession(session: ScramSession, password: string, serverData: string, stream?: unknown): Promise<void>;
    finalizeSession(session: ScramSession, serverData: string): void;
  };
  export default sasl;
}

declare module 'pg/lib/crypto/utils.js' {
  const utils: {
    postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>;
  };
  export default utils;
}
