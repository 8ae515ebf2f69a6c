package dev.matgto.client;

import dev.matgto.v1.GetStatusRequest;
import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.ProxyControlGrpc;
import dev.matgto.v1.RenewSessionRequest;
import dev.matgto.v1.RenewSessionResponse;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The gRPC side of a {@link MatgtoClient}: the server's address read, the channel to its control
 * API, the deadline of each call, the control API version check made before the first call, and
 * gRPC failures turned into {@link MatgtoException}s. Thread-safe.
 */
final class ControlChannel implements AutoCloseable {
  private final String target;
  private final boolean tls;
  private final ManagedChannel channel;
  private final ProxyControlGrpc.ProxyControlBlockingStub stub;
  private final Duration callTimeout;
  private volatile boolean compatible;

  private ControlChannel(String target, boolean tls, ManagedChannel channel, Duration callTimeout) {
    this.target = target;
    this.tls = tls;
    this.channel = channel;
    this.stub = ProxyControlGrpc.newBlockingStub(channel);
    this.callTimeout = callTimeout;
  }

  /**
   * A channel to {@code address}, read as the matgto CLI reads {@code --server}: {@code https://}
   * means TLS, {@code http://} and a trailing {@code /} are dropped. No traffic until the first
   * call.
   *
   * @throws IllegalArgumentException for an empty address, or when {@code connection} cannot be
   *     used
   */
  static ControlChannel open(String address, Duration callTimeout, ConnectionOptions connection) {
    Objects.requireNonNull(address, "address");
    Objects.requireNonNull(callTimeout, "callTimeout");
    Objects.requireNonNull(connection, "connection");
    String target = address.trim();
    if (target.regionMatches(true, 0, "https://", 0, "https://".length())) {
      target = target.substring("https://".length());
      connection = connection.withTls();
    } else if (target.regionMatches(true, 0, "http://", 0, "http://".length())) {
      target = target.substring("http://".length());
    }
    if (target.endsWith("/")) {
      target = target.substring(0, target.length() - 1);
    }
    if (target.isEmpty()) {
      throw new IllegalArgumentException("empty matgto server address");
    }
    // The control channel never goes through an HTTP proxy: grpc-java asks the JVM's
    // ProxySelector (https.proxyHost, ...), which tests point at matgto's own proxy.
    ManagedChannel channel =
        Grpc.newChannelBuilder(target, connection.channelCredentials(target))
            .proxyDetector(addr -> null)
            .build();
    return new ControlChannel(target, connection.isTls(), channel, callTimeout);
  }

  /** The address {@link MatgtoClient#connect()} uses: property, environment, else the default. */
  static String defaultAddress() {
    String fromProperty = System.getProperty(MatgtoClient.ADDRESS_PROPERTY);
    if (fromProperty != null && !fromProperty.isBlank()) {
      return fromProperty.trim();
    }
    String fromEnv = System.getenv(MatgtoClient.ADDRESS_ENV);
    if (fromEnv != null && !fromEnv.isBlank()) {
      return fromEnv.trim();
    }
    return MatgtoClient.DEFAULT_ADDRESS;
  }

  /** The gRPC target, as {@link MatgtoClient#target()} reports it. */
  String target() {
    return target;
  }

  boolean isTls() {
    return tls;
  }

  /** The channel itself, for the calls that manage their own deadline ({@code WatchEvents}). */
  ManagedChannel channel() {
    return channel;
  }

  /** The server's status, its control API version checked (which spares later calls the check). */
  GetStatusResponse status() {
    GetStatusResponse status = rawStatus();
    MatgtoClient.checkCompatible(status, target);
    compatible = true;
    return status;
  }

  /** Checks the control API version once, before the first call that needs it. */
  void ensureCompatible() {
    if (!compatible) {
      synchronized (this) {
        if (!compatible) {
          MatgtoClient.checkCompatible(rawStatus(), target);
          compatible = true;
        }
      }
    }
  }

  private GetStatusResponse rawStatus() {
    try {
      return stub().getStatus(GetStatusRequest.getDefaultInstance());
    } catch (StatusRuntimeException e) {
      throw MatgtoException.fromGrpc(e);
    }
  }

  /** Makes one blocking call after the version check; a gRPC failure becomes its exception. */
  <T> T call(Function<ProxyControlGrpc.ProxyControlBlockingStub, T> rpc) {
    ensureCompatible();
    try {
      return rpc.apply(stub());
    } catch (StatusRuntimeException e) {
      throw MatgtoException.fromGrpc(e);
    }
  }

  /**
   * Like {@link #call}, for a call naming session {@code sessionId} on the wire: NOT_FOUND becomes
   * {@link SessionNotFoundException} when an id is named (a missing cassette for "").
   */
  <T> T callNamingSession(
      String sessionId, Function<ProxyControlGrpc.ProxyControlBlockingStub, T> rpc) {
    ensureCompatible();
    try {
      return rpc.apply(stub());
    } catch (StatusRuntimeException e) {
      MatgtoException.NotFound about =
          sessionId.isEmpty()
              ? MatgtoException.NotFound.CASSETTE
              : MatgtoException.NotFound.SESSION;
      throw MatgtoException.fromStatus(e.getStatus(), e, about, sessionId, List.of());
    }
  }

  /** A blocking stub whose next call gets the client's deadline; no version check. */
  ProxyControlGrpc.ProxyControlBlockingStub stub() {
    return stub.withDeadlineAfter(callTimeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** A non-blocking stub whose next call gets the client's deadline; no version check. */
  ProxyControlGrpc.ProxyControlStub asyncStub() {
    return ProxyControlGrpc.newStub(channel)
        .withDeadlineAfter(callTimeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Renews a lease without blocking the caller: the answer goes to {@code observer}. */
  void renewAsync(
      String sessionId, Duration deadline, StreamObserver<RenewSessionResponse> observer) {
    ProxyControlGrpc.newStub(channel)
        .withDeadlineAfter(Math.max(1, deadline.toMillis()), TimeUnit.MILLISECONDS)
        .renewSession(RenewSessionRequest.newBuilder().setSession(sessionId).build(), observer);
  }

  /** Shuts the channel down, waiting up to 5 s for calls in flight. */
  @Override
  public void close() {
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
