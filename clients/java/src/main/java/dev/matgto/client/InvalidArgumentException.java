package dev.matgto.client;

import io.grpc.Status;

/** {@code INVALID_ARGUMENT}: The server rejected an argument, such as a cassette name that is empty, absolute or contains <code>..</code>. */
public class InvalidArgumentException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public InvalidArgumentException(String serverMessage, Throwable cause) {
    super(Status.Code.INVALID_ARGUMENT, serverMessage, cause);
  }
}
