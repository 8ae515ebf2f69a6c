package dev.matgto.client;

import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * The session fields of the generated {@link SessionInfo} and {@link SessionSummary} in java.time
 * types. The plain fields need no help: {@code getId()}, {@code getProxyAddress()}, {@code
 * getProxyUrl()}, {@code getOwner()} on a {@code SessionInfo}; {@code getEndReason()}, {@code
 * getSaveError()} on a {@code SessionSummary}. ({@link MatgtoClient#proxyAddress(SessionInfo)}
 * gives the proxy address as an {@link java.net.InetSocketAddress}.)
 */
public final class SessionInfos {
  /** The id of the server's default session. */
  public static final String DEFAULT_SESSION_ID = "default";

  private SessionInfos() {}

  /** When the session was opened; empty when the server did not say. */
  public static Optional<Instant> openedAt(SessionInfo s) {
    return s.hasOpenedAt() ? Optional.of(ProtoTime.toJava(s.getOpenedAt())) : Optional.empty();
  }

  /** How long the session had been open when the server described it. */
  public static Duration age(SessionInfo s) {
    return s.hasAge() ? ProtoTime.toJava(s.getAge()) : Duration.ZERO;
  }

  /** The session's lease length; empty for a session without a lease. */
  public static Optional<Duration> lease(SessionInfo s) {
    return s.hasLease() ? Optional.of(ProtoTime.toJava(s.getLease())) : Optional.empty();
  }

  /** When the lease runs out unless renewed; empty for a session without a lease. */
  public static Optional<Instant> leaseExpiresAt(SessionInfo s) {
    return s.hasLeaseExpiresAt()
        ? Optional.of(ProtoTime.toJava(s.getLeaseExpiresAt()))
        : Optional.empty();
  }

  /**
   * The shared proxy port with the session named as the proxy user ({@code
   * http://s-0123456789abcdef@127.0.0.1:8888}); empty when the server reported none.
   */
  public static Optional<URI> proxyUrl(SessionInfo s) {
    return s.getProxyUrl().isEmpty() ? Optional.empty() : Optional.of(URI.create(s.getProxyUrl()));
  }

  /** Whether this is the server's default session. */
  public static boolean isDefault(SessionInfo s) {
    return s.getId().isEmpty() || s.getId().equals(DEFAULT_SESSION_ID);
  }

  /**
   * The session's fault rules, each with its id and how many requests it has hit ({@link
   * Fault#applied()}), oldest first.
   */
  public static List<Fault> faults(SessionInfo s) {
    return Fault.fromProtos(s.getFaultsList());
  }

  /**
   * The seed of the session's generator for probabilistic fault rules (unsigned 64-bit: {@link
   * Long#toUnsignedString(long)} prints it); set it with {@link MatgtoClient#setFaults(String,
   * long, Fault...)} to re-run a test with the same sequence.
   */
  public static long faultSeed(SessionInfo s) {
    return s.getFaultSeed();
  }

  /** The session's replay latency (its options'; {@link Latency#fast()} when unset). */
  public static Latency latency(SessionInfo s) {
    return s.getOptions().hasLatency() ? Latency.of(s.getOptions().getLatency()) : Latency.fast();
  }

  /** When the session ended; empty when the server did not say. */
  public static Optional<Instant> endedAt(SessionSummary s) {
    return s.hasEndedAt() ? Optional.of(ProtoTime.toJava(s.getEndedAt())) : Optional.empty();
  }

  /**
   * The {@code Proxy-Authorization} value that names session {@code id} on the shared proxy port:
   * {@code Basic base64("ID:")}.
   */
  public static String proxyAuthorization(String id) {
    return "Basic "
        + java.util.Base64.getEncoder()
            .encodeToString((id + ":").getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }
}
