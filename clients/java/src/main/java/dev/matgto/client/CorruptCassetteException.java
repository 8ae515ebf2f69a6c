package dev.matgto.client;

import io.grpc.Status;

/** {@code DATA_LOSS}: The cassette file is corrupt or truncated. */
public class CorruptCassetteException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public CorruptCassetteException(String serverMessage, Throwable cause) {
    super(Status.Code.DATA_LOSS, serverMessage, cause);
  }
}
