package dev.matgto.client;

import io.grpc.Status;

/** {@code UNAVAILABLE}: The server cannot be reached or is shutting down. */
public class ServerUnavailableException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public ServerUnavailableException(String serverMessage, Throwable cause) {
    super(Status.Code.UNAVAILABLE, serverMessage, cause);
  }
}
