import './polyfill.js';

export { MatgtoClient } from './client.js';
export {
  DEFAULT_ADDRESS,
  DEFAULT_LEASE_MS,
  DEFAULT_SESSION_ID,
  type MatgtoClientOptions,
  type SessionOptions,
  type CassetteCallOptions,
  type StopOptions,
  type UseCassetteOptions,
  type FetchDispatcherOptions,
  type SetFaultsOptions,
  type FaultSet,
} from './client-options.js';
export { CHUNK_BYTES } from './cassette-upload.js';
export type { CassetteSession } from './cassette-session.js';
export {
  MatgtoError,
  CassetteNotFoundError,
  SessionNotFoundError,
  FaultNotFoundError,
  DeadlineExceededError,
  InvalidArgumentError,
  FailedPreconditionError,
  CorruptCassetteError,
  ServerUnavailableError,
  UnimplementedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  PermissionDeniedError,
  SessionLostError,
  IncompatibleServerError,
  toMatgtoError,
  grpcCodeName,
  type NotFoundAbout,
} from './errors.js';
export {
  TOKEN_ENV,
  TLS_CA_ENV,
  TLS_CERT_ENV,
  TLS_KEY_ENV,
  isLoopbackTarget,
  resolveConnection,
  type ConnectionOptions,
  type ConnectionSettings,
  type PemSource,
} from './connection.js';
export { checkApiVersion, SUPPORTED_API_VERSION } from './version.js';
export {
  optionsToPb as cassetteOptions,
  optionsFromPb,
  matchRulesToPb,
  redactRulesToPb,
  sessionProxy,
  faultToPb,
  faultFromPb,
  latencyToPb,
  latencyFromPb,
} from './types.js';
// Generated messages, for getCassette()/putCassette() and the protoOptions escape hatch.
export {
  Cassette,
  CassetteOptions as CassetteOptionsMessage,
  MatchRules as MatchRulesMessage,
  RedactRules as RedactRulesMessage,
  Latency as LatencyMessage,
  LatencyMode,
  type DeepPartial,
} from './gen/matgto/v1/cassette.js';
export { Fault as FaultMessage, ResetFault_When } from './gen/matgto/v1/control.js';
// Generated messages of the live event stream (watchEvents()).
export {
  ExchangeResult,
  SessionEvent_Kind as SessionEventKind,
  Mode as ModeMessage,
  type Event,
  type ExchangeEvent,
  type MissEvent,
  type SessionEvent,
  type Miss as MissMessage,
} from './gen/matgto/v1/control.js';
export { EventStream, type WatchEventsOptions } from './events.js';
export type {
  CassetteMode,
  ReportedMode,
  OnExhausted,
  RepeatPolicyName,
  OnMiss,
  OnUnredactable,
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
  TlsStatus,
  Miss,
  Candidate,
  FieldDifference,
  Latency,
  ResetWhen,
  FaultHeaders,
  FaultMatch,
  FaultSelector,
  FaultAction,
  StatusFaultAction,
  DelayFaultAction,
  HangFaultAction,
  ResetFaultAction,
  BandwidthFaultAction,
  WebSocketFault,
  WebSocketFaultAction,
  FaultRule,
  Fault,
} from './types.js';
