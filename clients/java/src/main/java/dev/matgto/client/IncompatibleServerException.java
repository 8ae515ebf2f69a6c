package dev.matgto.client;

import io.grpc.Status;

/**
 * The server speaks a control API generation this client was not built for. Raised by the client
 * itself (code {@code FAILED_PRECONDITION}) before any other call reaches such a server.
 */
public class IncompatibleServerException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  private final long serverApiVersion;
  private final String serverVersion;

  public IncompatibleServerException(long serverApiVersion, String serverVersion, String target) {
    super(
        Status.Code.FAILED_PRECONDITION,
        "matgto server at "
            + target
            + " (version "
            + (serverVersion == null || serverVersion.isEmpty() ? "unknown" : serverVersion)
            + ") speaks control API version "
            + serverApiVersion
            + (serverApiVersion == 0 ? " (none reported)" : "")
            + ", but this client (dev.matgto:matgto-client) only speaks version "
            + MatgtoClient.API_VERSION
            + "; use a client and server of matching versions",
        "",
        null);
    this.serverApiVersion = serverApiVersion;
    this.serverVersion = serverVersion == null ? "" : serverVersion;
  }

  /** The {@code api_version} the server reported (0 when it reported none). */
  public long getServerApiVersion() {
    return serverApiVersion;
  }

  /** The server's release version, e.g. "0.1.0" (may be empty). */
  public String getServerVersion() {
    return serverVersion;
  }
}
