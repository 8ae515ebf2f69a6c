import './polyfill.js';

export {
  MatgtoClient,
  DEFAULT_ADDRESS,
  CHUNK_BYTES,
  DEFAULT_LEASE_MS,
  DEFAULT_SESSION_ID,
  type MatgtoClientOptions,
  type SessionOptions,
  type CassetteCallOptions,
  type StopOptions,
  type UseCassetteOptions,
  type CassetteSession,
  type FetchDispatcherOptions,
} from './client.js';
export {
  MatgtoError,
  CassetteNotFoundError,
  InvalidArgumentError,
  FailedPreconditionError,
  CorruptCassetteError,
  ServerUnavailableError,
  UnimplementedError,
  ResourceExhaustedError,
  SessionLostError,
  IncompatibleServerError,
  toMatgtoError,
  grpcCodeName,
} from './errors.js';
export { checkApiVersion, SUPPORTED_API_VERSION } from './version.js';
export {
  optionsToPb as cassetteOptions,
  optionsFromPb,
  matchRulesToPb,
  redactRulesToPb,
  sessionProxy,
} from './types.js';
// Generated messages, for getCassette()/putCassette() and the protoOptions escape hatch.
export {
  Cassette,
  CassetteOptions as CassetteOptionsMessage,
  MatchRules as MatchRulesMessage,
  RedactRules as RedactRulesMessage,
  type DeepPartial,
} from './gen/matgto/v1/cassette.js';
export type {
  CassetteMode,
  ReportedMode,
  OnExhausted,
  RepeatPolicyName,
  OnMiss,
  BodyMatchMode,
  MatchFieldName,
  WsTimingMode,
  UrlRewrite,
  MatchRules,
  RedactRules,
  CassetteInfo,
  CassetteOptions,
  SessionInfo,
  SessionSummary,
  ServerStatus,
  Miss,
  Candidate,
  FieldDifference,
} from './types.js';
