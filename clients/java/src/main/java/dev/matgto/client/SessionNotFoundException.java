package dev.matgto.client;

import io.grpc.Status;

/**
 * {@code NOT_FOUND} from a call that names a session ({@link MatgtoClient#stop(String)}, {@link
 * MatgtoClient#renewSession(String)}, the fault calls such as {@link MatgtoClient#setFaults(String,
 * Fault...)}): no session with that id is open: it was stopped, its lease expired, the server
 * restarted, or it never existed.
 */
public class SessionNotFoundException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  private final String sessionId;

  public SessionNotFoundException(String sessionId, String serverMessage, Throwable cause) {
    super(Status.Code.NOT_FOUND, serverMessage, cause);
    this.sessionId = sessionId == null ? "" : sessionId;
  }

  /** The id the call named. */
  public String getSessionId() {
    return sessionId;
  }
}
