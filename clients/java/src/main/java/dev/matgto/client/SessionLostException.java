package dev.matgto.client;

import dev.matgto.v1.SessionSummary;
import io.grpc.Status;
import java.util.Optional;

/**
 * A {@link Session} the server no longer knows: renewing its lease (or stopping it) answered
 * {@code NOT_FOUND}. Its lease ran out (the test process stalled longer than the lease, or could
 * not reach the server), someone else stopped it, or the server restarted; its proxy refuses
 * traffic from then on. {@link #getEndedSummary()} says how it ended when the server still lists
 * it among its ended sessions.
 */
public class SessionLostException extends MatgtoException {
  private static final long serialVersionUID = 1L;

  private final String sessionId;
  private final transient SessionSummary ended;

  public SessionLostException(
      String sessionId, String cassette, SessionSummary ended, String detail, Throwable cause) {
    super(Status.Code.NOT_FOUND, message(sessionId, cassette, ended, detail),
        cause instanceof MatgtoException ? ((MatgtoException) cause).getServerMessage() : "",
        cause);
    this.sessionId = sessionId;
    this.ended = ended;
  }

  /** The id of the lost session. */
  public String getSessionId() {
    return sessionId;
  }

  /** How the server ended the session, when it still lists it under {@code ended_sessions}. */
  public Optional<SessionSummary> getEndedSummary() {
    return Optional.ofNullable(ended);
  }

  private static String message(
      String sessionId, String cassette, SessionSummary ended, String detail) {
    StringBuilder sb = new StringBuilder();
    sb.append("matgto session ").append(sessionId).append(" (cassette '").append(cassette)
        .append("') was lost: ").append(detail);
    if (ended != null) {
      sb.append("; the server ended it: ").append(ended.getEndReason().isEmpty()
          ? "(no reason given)" : ended.getEndReason());
      SessionInfos.endedAt(ended).ifPresent(t -> sb.append(" at ").append(t));
      if (!ended.getSavedPath().isEmpty()) {
        sb.append(", recording saved to ").append(ended.getSavedPath());
      }
      if (!ended.getSaveError().isEmpty()) {
        sb.append(", saving failed: ").append(ended.getSaveError());
      }
    } else {
      sb.append("; the server does not list it among its ended sessions");
    }
    return sb.toString();
  }
}
