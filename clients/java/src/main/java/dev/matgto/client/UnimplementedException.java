package dev.matgto.client;

import io.grpc.Status;

/** {@code UNIMPLEMENTED}: The server does not implement this call (yet). */
public class UnimplementedException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public UnimplementedException(String serverMessage, Throwable cause) {
    super(Status.Code.UNIMPLEMENTED, serverMessage, cause);
  }
}
