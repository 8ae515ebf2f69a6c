package dev.matgto.client;

import io.grpc.Status;

/**
 * {@code RESOURCE_EXHAUSTED}: The server refuses a new session: it already holds {@code
 * --max-sessions} of them, or no port is left in {@code --session-ports}.
 */
public class ResourceExhaustedException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public ResourceExhaustedException(String serverMessage, Throwable cause) {
    super(Status.Code.RESOURCE_EXHAUSTED, serverMessage, cause);
  }
}
