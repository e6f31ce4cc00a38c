// The wire codec's public surface: framing, decoding and encoding of PostgreSQL protocol
// 3.0 messages, SQLSTATE constants and ProtocolError. No sockets, no clock, no policy.
export { SqlState, type SqlStateCode } from './sqlstate.js';
export { ProtocolError } from './protocol-error.js';
export {
  FrontendReader,
  FrontendCode,
  MAX_STARTUP_PACKET_LENGTH,
  SMALL_MESSAGE_LIMIT,
  MAX_AUTH_MESSAGE_LENGTH,
  readCleartextPassword,
  type FrontendFrame,
  type FrontendMessage,
  type FrontendMessageType,
  type FrontendPhase,
} from './frontend.js';
export {
  BackendCode,
  BackendReader,
  decodeBackend,
  readDataRowFields,
  type BackendFrame,
  type BackendMessage,
  type BackendMessageType,
  type FieldDescription,
  type TransactionStatus,
} from './backend.js';
export { ERROR_FIELD_CODES, type ErrorFields, type ErrorFieldName } from './error-fields.js';
export { encode, sslResponse } from './encode.js';
export { serialize } from './upstream-messages.js';
