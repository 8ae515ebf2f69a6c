package dev.matgto.client;

import io.grpc.Status;

/**
 * {@code UNAUTHENTICATED}: The server wants a bearer token and got none, or one it does not know
 * (see {@link ConnectionOptions#withToken(String)} and {@code MATGTO_TOKEN}).
 */
public class UnauthenticatedException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  public UnauthenticatedException(String serverMessage, Throwable cause) {
    super(Status.Code.UNAUTHENTICATED, serverMessage, cause);
  }
}
