// SQLSTATE codes the proxy reports (SPEC.md section 9). Only the codes tracegate itself
// raises live here; codes from the upstream server are relayed as the strings they are.
export const SqlState = {
  SuccessfulCompletion: '00000',
  ConnectionFailure: '08006',
  UnableToConnect: '08001',
  ProtocolViolation: '08P01',
  FeatureNotSupported: '0A000',
  CharacterNotInRepertoire: '22021',
  InvalidAuthorization: '28000',
  InvalidPassword: '28P01',
  InsufficientPrivilege: '42501',
  SyntaxError: '42601',
  TooManyConnections: '53300',
  ConfigurationLimitExceeded: '53400',
  ProgramLimitExceeded: '54000',
  QueryCanceled: '57014',
  AdminShutdown: '57P01',
  IoError: '58030',
  InternalError: 'XX000',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];
