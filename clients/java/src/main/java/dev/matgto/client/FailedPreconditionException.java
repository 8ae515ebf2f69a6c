package dev.matgto.client;

import io.grpc.Status;

/**
 * {@code FAILED_PRECONDITION}: The server is not in a state for this call, such as stopping while
 * no cassette is in use, or deleting or replacing the cassette in use.
 */
public class FailedPreconditionException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public FailedPreconditionException(String serverMessage, Throwable cause) {
    super(Status.Code.FAILED_PRECONDITION, serverMessage, cause);
  }
}
