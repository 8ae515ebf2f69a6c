import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { SessionSummary } from './types.js';

/** gRPC status code names, indexed by numeric code. */
const CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(GrpcStatus)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

/** The name of a gRPC status code ("NOT_FOUND"), or "CODE_<n>". */
export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `CODE_${code}`;
}

/**
 * Base class of every error this client throws for a failed call.
 * `code` is the gRPC status code (see `@grpc/grpc-js`'s `status`), `codeName`
 * its name, `serverMessage` the text the server sent (its status details).
 */
export class MatgtoError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly serverMessage: string;
  /** The RPC that failed ("Replay"), when known. */
  readonly rpc: string | undefined;

  constructor(code: number, serverMessage: string, options?: { rpc?: string; cause?: unknown; message?: string }) {
    const codeName = grpcCodeName(code);
    const where = options?.rpc ? `${options.rpc}: ` : '';
    super(options?.message ?? `${where}${codeName}: ${serverMessage || '(no message from server)'}`, {
      cause: options?.cause,
    });
    this.name = new.target.name;
    this.code = code;
    this.codeName = codeName;
    this.serverMessage = serverMessage;
    this.rpc = options?.rpc;
  }
}

/** NOT_FOUND: e.g. `replay()` of a cassette that does not exist. */
export class CassetteNotFoundError extends MatgtoError {}
/**
 * NOT_FOUND of a call that named a session (`stopRecording`, `renewSession`,
 * `setFaults`, `startRecording` on a session): it names no open session. A
 * {@link CassetteNotFoundError}, as every NOT_FOUND was before it existed.
 */
export class SessionNotFoundError extends CassetteNotFoundError {}
/**
 * NOT_FOUND of `clearFaults`: a fault id (or the session) the server does not
 * know. A {@link CassetteNotFoundError}, as every NOT_FOUND was before it existed.
 */
export class FaultNotFoundError extends CassetteNotFoundError {}
/** DEADLINE_EXCEEDED: the server did not answer within the call's deadline. */
export class DeadlineExceededError extends MatgtoError {}
/** INVALID_ARGUMENT: a bad cassette name (empty, absolute, `..`, bad characters) or mode. */
export class InvalidArgumentError extends MatgtoError {}
/** FAILED_PRECONDITION: e.g. `stopRecording()` while no cassette is in use. */
export class FailedPreconditionError extends MatgtoError {}
/** DATA_LOSS: a cassette file that is corrupt or truncated. */
export class CorruptCassetteError extends MatgtoError {}
/** UNAVAILABLE: the server is not reachable or is shutting down. */
export class ServerUnavailableError extends MatgtoError {}
/** UNIMPLEMENTED: the server does not offer this call (yet). */
export class UnimplementedError extends MatgtoError {}
/** RESOURCE_EXHAUSTED: e.g. a new session beyond the server's `--max-sessions`. */
export class ResourceExhaustedError extends MatgtoError {}

/** UNAUTHENTICATED: the server wants a bearer token and got none or an unknown one (`token` / `$MATGTO_TOKEN`). */
export class UnauthenticatedError extends MatgtoError {}
/**
 * PERMISSION_DENIED: the token is valid but its scope does not allow the call
 * (recording with a `read` token, `shutdown()` without `admin`, a cassette
 * outside the token's name prefix).
 */
export class PermissionDeniedError extends MatgtoError {}

/**
 * A session this client opened was gone when it was stopped (or renewed):
 * the server ended it, typically because its lease ran out (the process
 * stalled longer than the lease), and refused the traffic sent through it
 * afterwards. `code` is NOT_FOUND. `summary` is the server's record of how
 * the session ended (from `status().endedSessions`) when it still has one.
 */
export class SessionLostError extends MatgtoError {
  readonly sessionId: string;
  readonly cassette: string;
  readonly summary: SessionSummary | undefined;

  constructor(sessionId: string, cassette: string, summary: SessionSummary | undefined, options: { rpc?: string; cause?: unknown; serverMessage?: string }) {
    const how = summary
      ? `the server ended it (${summary.endReason || 'reason not given'}` +
        `${summary.endedAt ? ` at ${summary.endedAt.toISOString()}` : ''})` +
        `${summary.savedPath ? `, saving ${summary.savedPath}` : ''}${summary.saveError ? `, save error: ${summary.saveError}` : ''}`
      : 'the server no longer knows it';
    const msg =
      `matgto session ${sessionId}${cassette ? ` (cassette "${cassette}")` : ''} was lost: ${how}. ` +
      'Its lease was not renewed in time (was the process stalled longer than the lease?), ' +
      'so requests sent through it after that were refused.';
    super(GrpcStatus.NOT_FOUND, options.serverMessage ?? '', { rpc: options.rpc, cause: options.cause, message: msg });
    this.sessionId = sessionId;
    this.cassette = cassette;
    this.summary = summary;
  }
}

/**
 * The server speaks another control API generation than this client
 * (`apiVersion` from GetStatus differs from {@link SUPPORTED_API_VERSION}).
 * Thrown by the client itself; `code` is FAILED_PRECONDITION.
 */
export class IncompatibleServerError extends MatgtoError {
  readonly serverApiVersion: number;
  readonly serverVersion: string;
  readonly supportedApiVersion: number;

  constructor(serverApiVersion: number, serverVersion: string, supportedApiVersion: number, address?: string) {
    const at = address ? ` at ${address}` : '';
    const ver = serverVersion ? ` (matgto ${serverVersion})` : '';
    const why =
      serverApiVersion === 0
        ? 'reports no api_version (0): it predates or does not implement matgto.v1'
        : `speaks control API version ${serverApiVersion}`;
    const msg =
      `incompatible matgto server${at}${ver}: it ${why}, but this @matgto/client ` +
      `supports only API version ${supportedApiVersion}. Use a client release matching the server.`;
    super(GrpcStatus.FAILED_PRECONDITION, msg, { message: msg });
    this.serverApiVersion = serverApiVersion;
    this.serverVersion = serverVersion;
    this.supportedApiVersion = supportedApiVersion;
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number';
}

/** What a NOT_FOUND of a call names: a cassette, a session or a fault. */
export type NotFoundAbout = 'cassette' | 'session' | 'fault';

const NOT_FOUND_ABOUT: Record<string, NotFoundAbout> = {
  StartRecording: 'session',
  StopRecording: 'session',
  RenewSession: 'session',
  SetFaults: 'session',
  ClearFaults: 'fault',
};

/**
 * Maps a gRPC failure to the matching {@link MatgtoError} subclass. A
 * NOT_FOUND becomes a {@link SessionNotFoundError} or {@link FaultNotFoundError}
 * by `about` (default: what the `rpc` names), else a {@link CassetteNotFoundError}.
 */
export function toMatgtoError(err: unknown, rpc?: string, about?: NotFoundAbout): MatgtoError {
  if (err instanceof MatgtoError) return err;
  if (!isServiceError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return new MatgtoError(GrpcStatus.UNKNOWN, message, { rpc, cause: err });
  }
  const details = typeof err.details === 'string' ? err.details : err.message;
  const opts = { rpc, cause: err };
  switch (err.code) {
    case GrpcStatus.NOT_FOUND:
      switch (about ?? NOT_FOUND_ABOUT[rpc ?? ''] ?? 'cassette') {
        case 'session':
          return new SessionNotFoundError(err.code, details, opts);
        case 'fault':
          return new FaultNotFoundError(err.code, details, opts);
        default:
          return new CassetteNotFoundError(err.code, details, opts);
      }
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(err.code, details, opts);
    case GrpcStatus.INVALID_ARGUMENT:
      return new InvalidArgumentError(err.code, details, opts);
    case GrpcStatus.FAILED_PRECONDITION:
      return new FailedPreconditionError(err.code, details, opts);
    case GrpcStatus.DATA_LOSS:
      return new CorruptCassetteError(err.code, details, opts);
    case GrpcStatus.UNAVAILABLE:
      return new ServerUnavailableError(err.code, details, opts);
    case GrpcStatus.UNIMPLEMENTED:
      return new UnimplementedError(err.code, details, opts);
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(err.code, details, opts);
    case GrpcStatus.UNAUTHENTICATED:
      return new UnauthenticatedError(err.code, details, opts);
    case GrpcStatus.PERMISSION_DENIED:
      return new PermissionDeniedError(err.code, details, opts);
    default:
      return new MatgtoError(err.code, details, opts);
  }
}
