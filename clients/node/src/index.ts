import './polyfill.js';

export {
  MatgtoClient,
  DEFAULT_ADDRESS,
  type MatgtoClientOptions,
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
  IncompatibleServerError,
  toMatgtoError,
  grpcCodeName,
} from './errors.js';
export { checkApiVersion, SUPPORTED_API_VERSION } from './version.js';
export type {
  CassetteMode,
  ReportedMode,
  OnExhausted,
  CassetteOptions,
  SessionInfo,
  SessionSummary,
  ServerStatus,
  Miss,
  Candidate,
  FieldDifference,
} from './types.js';
