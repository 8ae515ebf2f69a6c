package dev.matgto.client;

import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.List;

/**
 * An error reported by the matgto server (or by this client about the server). Unchecked.
 *
 * <p>{@link #getCode()} is the gRPC status code and {@link #getServerMessage()} the server's own
 * description. Subclasses name the codes that callers usually handle:
 *
 * <ul>
 *   <li>{@link CassetteNotFoundException} — {@code NOT_FOUND}
 *   <li>{@link InvalidArgumentException} — {@code INVALID_ARGUMENT}
 *   <li>{@link FailedPreconditionException} — {@code FAILED_PRECONDITION}
 *   <li>{@link CorruptCassetteException} — {@code DATA_LOSS}
 *   <li>{@link ServerUnavailableException} — {@code UNAVAILABLE}
 *   <li>{@link UnimplementedException} — {@code UNIMPLEMENTED}
 *   <li>{@link DeadlineExceededException} — {@code DEADLINE_EXCEEDED} (the call's timeout passed)
 *   <li>{@link ResourceExhaustedException} — {@code RESOURCE_EXHAUSTED} (too many sessions)
 *   <li>{@link UnauthenticatedException} — {@code UNAUTHENTICATED} (no token, or a wrong one)
 *   <li>{@link PermissionDeniedException} — {@code PERMISSION_DENIED} (the token's scope forbids it)
 *   <li>{@link SessionNotFoundException} — {@code NOT_FOUND} from a call that names a session
 *   <li>{@link FaultNotFoundException} — {@code NOT_FOUND} clearing a fault rule a session lacks
 *   <li>{@link SessionLostException} — a {@link Session}'s lease was not renewed in time
 *   <li>{@link IncompatibleServerException} — the server speaks another control API version
 * </ul>
 */
public class MatgtoException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String serverMessage;

  public MatgtoException(Status.Code code, String serverMessage, Throwable cause) {
    super(format(code, serverMessage), cause);
    this.code = code;
    this.serverMessage = serverMessage == null ? "" : serverMessage;
  }

  /** For errors whose message is written by the client, not the server. */
  protected MatgtoException(Status.Code code, String message, String serverMessage, Throwable cause) {
    super(message, cause);
    this.code = code;
    this.serverMessage = serverMessage == null ? "" : serverMessage;
  }

  /** The gRPC status code. */
  public Status.Code getCode() {
    return code;
  }

  /** The server's description of the error (may be empty). */
  public String getServerMessage() {
    return serverMessage;
  }

  private static String format(Status.Code code, String serverMessage) {
    if (serverMessage == null || serverMessage.isEmpty()) {
      return code.name();
    }
    return code.name() + ": " + serverMessage;
  }

  /** Maps a gRPC failure to the matching exception type. */
  public static MatgtoException fromGrpc(StatusRuntimeException e) {
    return fromStatus(e.getStatus(), e);
  }

  /** Maps a gRPC failure to the matching exception type. */
  public static MatgtoException fromGrpc(StatusException e) {
    return fromStatus(e.getStatus(), e);
  }

  /** Maps a gRPC status to the matching exception type. */
  public static MatgtoException fromStatus(Status status, Throwable cause) {
    return fromStatus(status, cause, NotFound.CASSETTE, "", List.of());
  }

  /** What a failed call named, which decides the type of a {@code NOT_FOUND}. */
  enum NotFound {
    CASSETTE,
    SESSION,
    FAULT
  }

  /**
   * Like {@link #fromStatus(Status, Throwable)}, a {@code NOT_FOUND} becoming a {@link
   * SessionNotFoundException} or {@link FaultNotFoundException} (naming {@code sessionId} and
   * {@code faultIds}) when the call named a session or fault ids ({@code about}).
   */
  static MatgtoException fromStatus(
      Status status, Throwable cause, NotFound about, String sessionId, List<String> faultIds) {
    String msg = status.getDescription();
    if (msg == null && status.getCause() != null) {
      msg = status.getCause().toString();
    }
    switch (status.getCode()) {
      case NOT_FOUND:
        switch (about) {
          case SESSION:
            return new SessionNotFoundException(sessionId, msg, cause);
          case FAULT:
            return new FaultNotFoundException(sessionId, faultIds, msg, cause);
          default:
            return new CassetteNotFoundException(msg, cause);
        }
      case INVALID_ARGUMENT:
        return new InvalidArgumentException(msg, cause);
      case FAILED_PRECONDITION:
        return new FailedPreconditionException(msg, cause);
      case DATA_LOSS:
        return new CorruptCassetteException(msg, cause);
      case UNAVAILABLE:
        return new ServerUnavailableException(msg, cause);
      case UNIMPLEMENTED:
        return new UnimplementedException(msg, cause);
      case DEADLINE_EXCEEDED:
        return new DeadlineExceededException(msg, cause);
      case RESOURCE_EXHAUSTED:
        return new ResourceExhaustedException(msg, cause);
      case UNAUTHENTICATED:
        return new UnauthenticatedException(msg, cause);
      case PERMISSION_DENIED:
        return new PermissionDeniedException(msg, cause);
      default:
        return new MatgtoException(status.getCode(), msg, cause);
    }
  }
}
