package dev.matgto.client;

import io.grpc.Status;

/** {@code NOT_FOUND}: The cassette does not exist (a replay of an unknown name). */
public class CassetteNotFoundException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public CassetteNotFoundException(String serverMessage, Throwable cause) {
    super(Status.Code.NOT_FOUND, serverMessage, cause);
  }
}
