package dev.matgto.client;

import io.grpc.Status;

/** {@code DEADLINE_EXCEEDED}: the server did not answer within the call's timeout. */
public class DeadlineExceededException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public DeadlineExceededException(String serverMessage, Throwable cause) {
    super(Status.Code.DEADLINE_EXCEEDED, serverMessage, cause);
  }
}
