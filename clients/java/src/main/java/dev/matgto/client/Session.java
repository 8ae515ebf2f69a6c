package dev.matgto.client;

import dev.matgto.v1.RenewSessionResponse;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A new server session of its own, with its own proxy listener and cassette, kept alive by a lease
 * that a daemon thread renews every lease/3 until {@link #close()}. If the test process dies, the
 * server ends the session when the lease runs out, saving what it recorded.
 *
 * <pre>{@code
 * try (Session s = matgto.session("users/get").mode(Mode.AUTO).open()) {
 *   HttpClient http = s.httpClientBuilder().build();   // through the session's own proxy port
 *   http.send(request, BodyHandlers.ofString());
 * } // StopRecording: saves a recording, closes the session and its port
 * }</pre>
 *
 * <p>When a renewal answers {@code NOT_FOUND} the session is lost (its lease ran out, someone
 * stopped it, the server restarted): renewing stops, {@link #isLost()} turns true, and {@link
 * #stop()} / {@link #close()} throw {@link SessionLostException}. Other renewal failures (an
 * unreachable server, a deadline) are retried at the next period. Thread-safe.
 */
public final class Session implements AutoCloseable {
  /** The default lease, in seconds. */
  public static final long DEFAULT_LEASE_SECONDS = 30;

  /** The lease a session gets unless {@link Builder#lease(Duration)} says otherwise. */
  public static final Duration DEFAULT_LEASE = Duration.ofSeconds(DEFAULT_LEASE_SECONDS);

  private final MatgtoClient client;
  private final SessionInfo opened;
  private final Duration lease;
  private final InetSocketAddress proxyAddress;
  private final AtomicBoolean renewing = new AtomicBoolean();
  private final AtomicLong renewals = new AtomicLong();
  private volatile Instant leaseExpiresAt;
  private volatile Throwable lastRenewalError;
  private volatile MatgtoException lostBecause; // set once, when a renewal answers NOT_FOUND
  private volatile ScheduledFuture<?> renewal;
  private volatile boolean ending; // stop() began: no more renewals
  // stop() runs under this lock; the renewal thread never takes it (it must not wait for an RPC).
  private final Object lock = new Object();
  private volatile SessionSummary summary; // written under lock; set once stopped
  private SessionLostException lostReport; // guarded by lock

  private Session(MatgtoClient client, SessionInfo opened, Duration lease) {
    this.client = client;
    this.opened = opened;
    this.lease = lease;
    this.proxyAddress = client.proxyAddress(opened);
    this.leaseExpiresAt = SessionInfos.leaseExpiresAt(opened).orElse(null);
  }

  private void startRenewing() {
    long period = Math.max(1, lease.toMillis() / 3);
    renewal =
        client.renewals().scheduleWithFixedDelay(this::renewNow, period, period, TimeUnit.MILLISECONDS);
  }

  /** One renewal, unless one is still in flight, the session is lost or stopped. */
  private void renewNow() {
    if (lostBecause != null || ending || !renewing.compareAndSet(false, true)) {
      return;
    }
    try {
      client.renewAsync(
          id(),
          renewalDeadline(),
          new StreamObserver<RenewSessionResponse>() {
            @Override
            public void onNext(RenewSessionResponse r) {
              if (r.hasLeaseExpiresAt()) {
                leaseExpiresAt = ProtoTime.toJava(r.getLeaseExpiresAt());
              }
              renewals.incrementAndGet();
              lastRenewalError = null;
            }

            @Override
            public void onError(Throwable t) {
              Status status = Status.fromThrowable(t);
              if (status.getCode() == Status.Code.NOT_FOUND) {
                markLost(new SessionNotFoundException(id(), status.getDescription(), t));
              } else {
                lastRenewalError = t; // transient: the next period tries again
              }
              renewing.set(false);
            }

            @Override
            public void onCompleted() {
              renewing.set(false);
            }
          });
    } catch (RuntimeException e) {
      lastRenewalError = e; // e.g. the channel is shut down
      renewing.set(false);
    }
  }

  /** A renewal may take a period (lease/3, at least 250 ms), at most the usual call deadline. */
  private Duration renewalDeadline() {
    Duration period = Duration.ofMillis(Math.max(250, lease.toMillis() / 3));
    return period.compareTo(MatgtoClient.DEFAULT_CALL_TIMEOUT) < 0
        ? period
        : MatgtoClient.DEFAULT_CALL_TIMEOUT;
  }

  private void markLost(MatgtoException because) {
    lostBecause = because;
    cancelRenewal();
  }

  private void cancelRenewal() {
    ScheduledFuture<?> r = renewal;
    if (r != null) {
      r.cancel(false);
    }
  }

  // ---------------------------------------------------------------- what the session is

  /** The session id ("s-" and 16 hex digits). */
  public String id() {
    return opened.getId();
  }

  /** The cassette this session uses. */
  public String cassette() {
    return opened.getCassette();
  }

  /** The session as the server described it when it was opened. */
  public SessionInfo info() {
    return opened;
  }

  /** The effective mode (AUTO resolved to RECORD or REPLAY). */
  public Mode mode() {
    return Mode.fromProto(opened.getMode());
  }

  /** Who opened it, as shown by {@code GetStatus}. */
  public String owner() {
    return opened.getOwner();
  }

  /** This session's live events: {@link MatgtoClient#watchEvents(String, String)} for its id. */
  public EventStream events() {
    return client.watchEvents(id(), null);
  }

  /** The control client the session was opened with. */
  MatgtoClient client() {
    return client;
  }

  /** The session's own proxy listener: any HTTP client's proxy, no credential needed. */
  public InetSocketAddress proxyAddress() {
    return proxyAddress;
  }

  /** {@code http://} + {@link #proxyAddress()}, usable as {@code HTTP_PROXY}. */
  public URI proxyUri() {
    return client.proxyUri(opened);
  }

  /**
   * The shared proxy port with this session as proxy user ({@code http://ID@host:port}); clients
   * send it as {@code Proxy-Authorization: }{@link #proxyAuthorization()}.
   */
  public String proxyUrl() {
    return opened.getProxyUrl();
  }

  /** {@code Basic base64("ID:")}: names this session on the shared proxy port. */
  public String proxyAuthorization() {
    return SessionInfos.proxyAuthorization(id());
  }

  /** A selector sending every request to this session's own proxy listener. */
  public ProxySelector proxySelector() {
    return ProxySelector.of(proxyAddress);
  }

  /**
   * An {@link HttpClient.Builder} through this session's proxy over HTTP/1.1 that trusts the
   * server's interception CA when it has one.
   */
  public HttpClient.Builder httpClientBuilder() {
    return ProxiedHttpClients.builder(client, proxySelector());
  }

  /** When the server opened the session. */
  public Optional<Instant> openedAt() {
    return SessionInfos.openedAt(opened);
  }

  /** The lease length; renewed every lease/3. */
  public Duration lease() {
    return lease;
  }

  /** When the lease runs out unless renewed, after the last successful renewal. */
  public Optional<Instant> leaseExpiresAt() {
    return Optional.ofNullable(leaseExpiresAt);
  }

  /** How many renewals succeeded. */
  public long renewals() {
    return renewals.get();
  }

  /** The last renewal failure other than NOT_FOUND, if the last renewal failed. */
  public Optional<Throwable> lastRenewalError() {
    return Optional.ofNullable(lastRenewalError);
  }

  /** Whether a renewal found the session gone (then {@link #close()} throws). */
  public boolean isLost() {
    return lostBecause != null;
  }

  /** Whether {@link #stop()} or {@link #close()} ended it. */
  public boolean isStopped() {
    return summary != null;
  }

  /** The session's current state from {@code GetStatus}; empty once it is no longer open. */
  public Optional<SessionInfo> status() {
    return client.findSession(id());
  }

  // ---------------------------------------------------------------- faults

  /**
   * Adds fault rules to this session ({@code SetFaults}); they apply to its requests until
   * cleared or the session ends.
   *
   * <pre>{@code
   * session.addFaults(Fault.status(503).header("Retry-After", "1").firstN(2).url("/orders/.*"));
   * }</pre>
   *
   * @return all the session's rules with their ids, and the seed
   * @throws InvalidArgumentException for a bad rule (RE2 pattern, probability outside 0..1)
   */
  public Faults addFaults(Fault... faults) {
    return client.setFaults(id(), faults);
  }

  /**
   * Like {@link #addFaults(Fault...)}, reseeding the generator of probabilistic rules with {@code
   * seed} first (0 keeps the seed): the same seed gives the same sequence of hits.
   */
  public Faults addFaults(long seed, Fault... faults) {
    return client.setFaults(id(), seed, faults);
  }

  /**
   * Adds one rule and returns it as the server stored it, with its id (for {@link
   * #clearFaults(String...)}).
   */
  public Fault addFault(Fault fault) {
    Objects.requireNonNull(fault, "fault");
    Faults all = client.setFaults(id(), fault);
    dev.matgto.v1.Fault sent = fault.toProto().toBuilder().clearId().clearApplied().build();
    for (int i = all.rules().size() - 1; i >= 0; i--) { // the newest equal rule is this one
      Fault f = all.rules().get(i);
      if (f.toProto().toBuilder().clearId().clearApplied().build().equals(sent)) {
        return f;
      }
    }
    if (all.rules().isEmpty()) {
      throw new IllegalStateException("SetFaults answered no rule after adding " + fault);
    }
    return all.rules().get(all.rules().size() - 1); // the server normalised it: the newest
  }

  /**
   * Reseeds the generator of this session's probabilistic rules (the seed must not be 0, which
   * means "keep").
   */
  public Faults seedFaults(long seed) {
    if (seed == 0) {
      throw new IllegalArgumentException("a fault seed is not 0 (0 means keep the seed)");
    }
    return client.setFaults(id(), seed);
  }

  /**
   * Removes the rules with these ids, or all of them when none is named ({@code ClearFaults}).
   *
   * @return the rules left
   * @throws FaultNotFoundException when the session has no rule with one of the ids
   */
  public List<Fault> clearFaults(String... ids) {
    return client.clearFaults(id(), ids);
  }

  /**
   * This session's rules, each with how many requests it has hit ({@link Fault#applied()}), from
   * {@code GetStatus}.
   *
   * @throws SessionNotFoundException when the session is no longer open
   */
  public List<Fault> faults() {
    return client.faults(id());
  }

  /** The seed of this session's generator for probabilistic rules, from {@code GetStatus}. */
  public long faultSeed() {
    return client.faultSeed(id());
  }

  // ---------------------------------------------------------------- ending it

  /**
   * Stops renewing, ends the cassette (saving a recording) and closes the session. Calling it
   * again returns the same summary. If someone else stopped the session first, the summary is the
   * one the server lists under its ended sessions.
   *
   * @throws SessionLostException when a renewal found the session gone, or the server no longer
   *     knows it (lease expired) when it is stopped
   */
  public SessionSummary stop() {
    synchronized (lock) {
      if (summary != null) {
        return summary;
      }
      if (lostReport != null) {
        throw lostReport;
      }
      ending = true;
      cancelRenewal();
      MatgtoException lost = lostBecause;
      if (lost != null) {
        lostReport = lost(lost, "renewing its lease answered NOT_FOUND");
        throw lostReport;
      }
      try {
        summary = client.stop(id());
        return summary;
      } catch (SessionNotFoundException e) {
        Optional<SessionSummary> ended = endedSummary();
        if (ended.isPresent() && ended.get().getEndReason().equals("stopped")) {
          summary = ended.get(); // stopped by someone else: its summary is still the answer
          return summary;
        }
        lostReport = lost(e, "stopping it answered NOT_FOUND");
        throw lostReport;
      }
    }
  }

  private SessionLostException lost(MatgtoException cause, String detail) {
    return new SessionLostException(id(), cassette(), endedSummary().orElse(null), detail, cause);
  }

  private Optional<SessionSummary> endedSummary() {
    try {
      return client.findEndedSession(id());
    } catch (MatgtoException e) {
      return Optional.empty();
    }
  }

  /** The summary {@link #stop()} returned; empty before. */
  public Optional<SessionSummary> summary() {
    return Optional.ofNullable(summary);
  }

  /**
   * {@link #stop()}, discarding the summary.
   *
   * @throws SessionLostException when the session was lost
   */
  @Override
  public void close() {
    stop();
  }

  @Override
  public String toString() {
    return "Session[" + id() + ", cassette '" + cassette() + "', proxy " + opened.getProxyAddress()
        + (isLost() ? ", lost" : "") + "]";
  }

  /** Opens a {@link Session}: {@link MatgtoClient#session(String)}. */
  public static final class Builder {
    private final MatgtoClient client;
    private final String cassette;
    private Mode mode = Mode.AUTO;
    private CassetteOptions options = CassetteOptions.none();
    private Duration lease = DEFAULT_LEASE;
    private String owner;

    Builder(MatgtoClient client, String cassette) {
      this.client = client;
      this.cassette = cassette;
    }

    /** How the cassette is used; AUTO (the default) replays it when it exists, else records. */
    public Builder mode(Mode mode) {
      this.mode = Objects.requireNonNull(mode, "mode");
      return this;
    }

    /** Cassette options (stored with a recording, overriding the stored ones on replay). */
    public Builder options(CassetteOptions options) {
      this.options = options == null ? CassetteOptions.none() : options;
      return this;
    }

    /** Replay latency for this session: {@code options(...)} with {@link CassetteOptions.Builder#latency}. */
    public Builder latency(Latency latency) {
      this.options = options.toBuilder().latency(latency).build();
      return this;
    }

    /**
     * The lease, 1 s to 1 h (default {@value Session#DEFAULT_LEASE_SECONDS} s); renewed every
     * lease/3.
     */
    public Builder lease(Duration lease) {
      Objects.requireNonNull(lease, "lease");
      if (lease.isNegative() || lease.isZero()) {
        throw new IllegalArgumentException("a lease must be positive: " + lease);
      }
      this.lease = lease;
      return this;
    }

    /** Who opens it, shown by {@code GetStatus} (default "java pid N thread T"). */
    public Builder owner(String owner) {
      this.owner = owner;
      return this;
    }

    /**
     * Opens the session ({@code UseCassette} with {@code new_session}) and starts renewing its
     * lease.
     *
     * @throws CassetteNotFoundException for REPLAY of a cassette that does not exist
     * @throws FailedPreconditionException when another session records this cassette
     * @throws ResourceExhaustedException when the server holds as many sessions as it may
     * @throws InvalidArgumentException for a bad name, rule or lease
     */
    public Session open() {
      String who = owner != null ? owner
          : "java pid " + ProcessHandle.current().pid() + " thread " + Thread.currentThread().getName();
      SessionInfo info =
          client.useCassette(cassette, mode, options, SessionOptions.newSession(lease, who));
      Session session = new Session(client, info, lease);
      try {
        session.startRenewing();
      } catch (RuntimeException e) { // the client is closed: do not leave the session behind
        try {
          client.stop(info.getId());
        } catch (RuntimeException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      }
      return session;
    }
  }
}
