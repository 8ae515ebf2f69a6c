package dev.matgto.client;

import io.grpc.Status;

/**
 * {@code PERMISSION_DENIED}: The token is valid but its scope does not allow the call: recording
 * with a {@code read} token, {@code shutdown()} without {@code admin}, or a cassette outside the
 * token's name prefix.
 */
public class PermissionDeniedException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public PermissionDeniedException(String serverMessage, Throwable cause) {
    super(Status.Code.PERMISSION_DENIED, serverMessage, cause);
  }
}
