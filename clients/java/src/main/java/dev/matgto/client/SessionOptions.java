package dev.matgto.client;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * Which server session a {@code startRecording}, {@code replay} or {@code useCassette} call acts
 * on: the <em>default</em> session (what the CLI drives), an open session named by its id, or a
 * new session with its own proxy listener, an optional lease and an owner shown by {@code
 * GetStatus}.
 *
 * <pre>{@code
 * SessionInfo s = matgto.useCassette("users/get", Mode.AUTO, CassetteOptions.none(),
 *     SessionOptions.newSession(Duration.ofSeconds(30), "my-test pid 4242"));
 * // ... traffic through "http://" + s.getProxyAddress(), RenewSession within the lease ...
 * matgto.stop(s.getId());
 * }</pre>
 *
 * <p>A new session opened with a lease ends by itself unless {@link
 * MatgtoClient#renewSession(String)} is called within the lease; {@link Session} renews it for
 * you. Immutable.
 */
public final class SessionOptions {
  private static final SessionOptions DEFAULT = new SessionOptions("", false, null, "");

  private final String session;
  private final boolean newSession;
  private final Duration lease;
  private final String owner;

  private SessionOptions(String session, boolean newSession, Duration lease, String owner) {
    this.session = session;
    this.newSession = newSession;
    this.lease = lease;
    this.owner = owner;
  }

  /** The server's default session (the behaviour of the calls without session options). */
  public static SessionOptions defaultSession() {
    return DEFAULT;
  }

  /** The open session {@code id} ("s-" and 16 hex digits, or "default"). */
  public static SessionOptions existing(String id) {
    return builder().session(id).build();
  }

  /** A new session without a lease: it lives until {@link MatgtoClient#stop(String)} names it. */
  public static SessionOptions newSession() {
    return builder().newSession(true).build();
  }

  /**
   * A new session that ends unless renewed within {@code lease} (1 s to 1 h), owned by {@code
   * owner} (free text, at most 256 bytes; may be null).
   */
  public static SessionOptions newSession(Duration lease, String owner) {
    return builder().newSession(true).lease(lease).owner(owner).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The id of the session acted on; empty for the default session or a new one. */
  public String session() {
    return session;
  }

  /** Whether the call opens a new session. */
  public boolean isNewSession() {
    return newSession;
  }

  /** The lease of a new session; empty for none. */
  public Optional<Duration> lease() {
    return Optional.ofNullable(lease);
  }

  /** The owner of a new session; empty for none. */
  public String owner() {
    return owner;
  }

  /** The lease as the wire type, or null when there is none. */
  com.google.protobuf.Duration leaseProto() {
    return lease == null ? null : ProtoTime.toProto(lease);
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof SessionOptions)) {
      return false;
    }
    SessionOptions other = (SessionOptions) o;
    return session.equals(other.session)
        && newSession == other.newSession
        && Objects.equals(lease, other.lease)
        && owner.equals(other.owner);
  }

  @Override
  public int hashCode() {
    return Objects.hash(session, newSession, lease, owner);
  }

  @Override
  public String toString() {
    if (newSession) {
      return "SessionOptions[new" + (lease == null ? "" : ", lease " + lease)
          + (owner.isEmpty() ? "" : ", owner '" + owner + "'") + "]";
    }
    return session.isEmpty() ? "SessionOptions[default]" : "SessionOptions[" + session + "]";
  }

  /** Builds {@link SessionOptions}; {@link #build()} refuses contradictory settings. */
  public static final class Builder {
    private String session = "";
    private boolean newSession;
    private Duration lease;
    private String owner = "";

    private Builder() {}

    /** The open session to act on (null or empty: the default session). */
    public Builder session(String id) {
      this.session = id == null ? "" : id;
      return this;
    }

    /** Open a new session (then no {@link #session(String)} may be given). */
    public Builder newSession(boolean newSession) {
      this.newSession = newSession;
      return this;
    }

    /** New sessions only: the lease (1 s to 1 h, checked by the server); null for none. */
    public Builder lease(Duration lease) {
      if (lease != null && (lease.isNegative() || lease.isZero())) {
        throw new IllegalArgumentException("a lease must be positive: " + lease);
      }
      this.lease = lease;
      return this;
    }

    /** New sessions only: who opened it (free text, at most 256 bytes); null for none. */
    public Builder owner(String owner) {
      this.owner = owner == null ? "" : owner;
      return this;
    }

    /**
     * @throws IllegalArgumentException for a session id together with a new session, or a lease
     *     or an owner without a new session
     */
    public SessionOptions build() {
      if (newSession && !session.isEmpty()) {
        throw new IllegalArgumentException(
            "a new session cannot also name the open session '" + session + "'");
      }
      if (!newSession && (lease != null || !owner.isEmpty())) {
        throw new IllegalArgumentException("a lease and an owner apply to new sessions only");
      }
      if (!newSession && session.isEmpty()) {
        return DEFAULT;
      }
      return new SessionOptions(session, newSession, lease, owner);
    }
  }
}
