package dev.matgto.client;

import io.grpc.Status;
import java.util.List;

/**
 * {@code NOT_FOUND} from {@link MatgtoClient#clearFaults(String, String...)} for a session that is
 * open: it has no fault rule with one of the ids named (already cleared, or never there).
 */
public class FaultNotFoundException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  private final String sessionId;
  private final List<String> ids;

  public FaultNotFoundException(
      String sessionId, List<String> ids, String serverMessage, Throwable cause) {
    super(Status.Code.NOT_FOUND, serverMessage, cause);
    this.sessionId = sessionId == null ? "" : sessionId;
    this.ids = ids == null ? List.of() : List.copyOf(ids);
  }

  /** The session the call named ("default" for the default session). */
  public String getSessionId() {
    return sessionId;
  }

  /** The ids the call asked to remove (the server's message says which one it lacks). */
  public List<String> getIds() {
    return ids;
  }
}
