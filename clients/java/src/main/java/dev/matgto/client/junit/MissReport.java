package dev.matgto.client.junit;

import dev.matgto.v1.Candidate;
import dev.matgto.v1.FieldDifference;
import dev.matgto.v1.Miss;
import dev.matgto.v1.SessionInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * The replay misses that fail a test, and the message that explains them: each miss with the
 * recorded requests closest to it and how they differ.
 */
final class MissReport {
  private MissReport() {}

  /**
   * The misses that fail a test: those whose reason is in {@link
   * MatgtoExtension#FAILING_MISS_REASONS} (misses the miss policy forwarded live, "no-match, passed
   * through" / "no-match, recorded", do not).
   */
  static List<Miss> failingMisses(SessionInfo session) {
    List<Miss> out = new ArrayList<>();
    for (Miss m : session.getMissesList()) {
      if (MatgtoExtension.FAILING_MISS_REASONS.contains(m.getReason())) {
        out.add(m);
      }
    }
    return out;
  }

  /** Why cassette {@code cassette} failed the test: {@code session}'s failing misses, explained. */
  static String describeMisses(String cassette, SessionInfo session) {
    List<Miss> misses = failingMisses(session);
    StringBuilder sb = new StringBuilder();
    sb.append("matgto cassette '").append(cassette).append('\'');
    if (!session.getId().isEmpty()) {
      sb.append(" (session ").append(session.getId()).append(", ")
          .append(session.getMode().name().toLowerCase(java.util.Locale.ROOT)).append(')');
    }
    sb.append(" could not answer ").append(misses.size()).append(" request(s):");
    for (Miss miss : misses) {
      sb.append("\n  ").append(miss.getMethod()).append(' ').append(miss.getUrl());
      sb.append(" (").append(miss.getReason()).append(')');
      if (miss.getClosestCount() == 0) {
        sb.append("\n    no recorded request is close");
      }
      for (Candidate c : miss.getClosestList()) {
        sb.append("\n    closest #")
            .append(c.getInteractionIndex())
            .append(": ")
            .append(c.getMethod())
            .append(' ')
            .append(c.getUrl());
        for (FieldDifference d : c.getDifferencesList()) {
          sb.append("\n      ")
              .append(d.getField())
              .append(": recorded '")
              .append(d.getRecorded())
              .append("', live '")
              .append(d.getLive())
              .append('\'');
        }
      }
    }
    if (session.getMissed() > session.getMissesCount()) {
      sb.append("\n  (the server lists the first ").append(session.getMissesCount())
          .append(" of ").append(session.getMissed()).append(" misses)");
    }
    return sb.toString();
  }
}
