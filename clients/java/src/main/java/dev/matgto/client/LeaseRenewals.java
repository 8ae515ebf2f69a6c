package dev.matgto.client;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;

/** The daemon thread that renews the leases of one client's {@link Session}s, made on first use. */
final class LeaseRenewals {
  private final String target;
  private ScheduledExecutorService executor; // guarded by this

  /** @param target the client's server, in the thread's name */
  LeaseRenewals(String target) {
    this.target = target;
  }

  synchronized ScheduledExecutorService executor() {
    if (executor == null) {
      ScheduledThreadPoolExecutor e =
          new ScheduledThreadPoolExecutor(
              1,
              r -> {
                Thread t = new Thread(r, "matgto-lease-renewal " + target);
                t.setDaemon(true); // never keeps the test JVM alive
                return t;
              });
      e.setRemoveOnCancelPolicy(true);
      e.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
      executor = e;
    }
    return executor;
  }

  /** Stops renewing: open sessions end when their lease runs out. */
  synchronized void shutdownNow() {
    if (executor != null) {
      executor.shutdownNow();
    }
  }
}
