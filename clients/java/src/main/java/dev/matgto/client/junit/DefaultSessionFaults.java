package dev.matgto.client.junit;

import dev.matgto.client.Fault;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.MatgtoException;
import dev.matgto.client.SessionInfos;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The default session's fault rules before a test that uses it ({@code newSession = false}), so
 * that the rules the test adds can be removed after it: the default session outlives the test, and
 * the rules that were there before it (set from the CLI, say) stay.
 */
final class DefaultSessionFaults {
  private static final System.Logger LOG = System.getLogger(MatgtoExtension.class.getName());

  private final Set<String> ids;

  private DefaultSessionFaults(Set<String> ids) {
    this.ids = ids;
  }

  /** The ids of the default session's rules now. */
  static DefaultSessionFaults before(MatgtoClient client) {
    return new DefaultSessionFaults(faultIds(client));
  }

  /** Removes the rules added since {@link #before}; a failure is logged, not thrown. */
  void clearAdded(MatgtoClient client) {
    try {
      Set<String> added = faultIds(client);
      added.removeAll(ids);
      if (!added.isEmpty()) {
        client.clearFaults(SessionInfos.DEFAULT_SESSION_ID, List.copyOf(added));
      }
    } catch (MatgtoException e) {
      LOG.log(System.Logger.Level.WARNING,
          "could not clear the fault rules a test added to the default session", e);
    }
  }

  private static Set<String> faultIds(MatgtoClient client) {
    Set<String> ids = new HashSet<>();
    for (Fault f : client.faults(SessionInfos.DEFAULT_SESSION_ID)) {
      ids.add(f.id());
    }
    return ids;
  }
}
