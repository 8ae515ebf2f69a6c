package dev.matgto.client;

import dev.matgto.v1.Cassette;
import dev.matgto.v1.CassetteInfo;
import dev.matgto.v1.GetCACertificateRequest;
import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.RenewSessionRequest;
import dev.matgto.v1.RenewSessionResponse;
import dev.matgto.v1.ReplayRequest;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import dev.matgto.v1.ShutdownRequest;
import dev.matgto.v1.StartRecordingRequest;
import dev.matgto.v1.StopRecordingRequest;
import dev.matgto.v1.UseCassetteRequest;
import dev.matgto.v1.WatchEventsRequest;
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
import java.util.concurrent.ScheduledExecutorService;
import javax.net.ssl.SSLContext;

/**
 * Client of a running matgto server's control API ({@code matgto.v1.ProxyControl} over gRPC).
 *
 * <pre>{@code
 * try (MatgtoClient matgto = MatgtoClient.connect("127.0.0.1:8889")) {
 *   HttpClient http = matgto.httpClientBuilder().build();
 *   matgto.startRecording("github/get-user");
 *   http.send(request, BodyHandlers.ofString());
 *   matgto.stopRecording();
 * }
 * }</pre>
 *
 * <p>A server holds many cassette sessions at once. The calls without {@link SessionOptions} act
 * on its <em>default</em> session, which the shared proxy port serves; tests running in parallel
 * each open a {@link Session} of their own instead, with its own proxy listener and a lease
 * renewed in the background:
 *
 * <pre>{@code
 * try (Session s = matgto.openSession("users/get-one", Mode.AUTO)) {
 *   s.httpClientBuilder().build().send(request, BodyHandlers.ofString());
 * }
 * }</pre>
 *
 * <p>Every call throws a {@link MatgtoException} subclass on failure. Before its first call the
 * client checks, with {@code GetStatus}, that the server speaks control API version {@value
 * #API_VERSION}, and throws {@link IncompatibleServerException} otherwise. Instances are
 * thread-safe.
 */
public final class MatgtoClient implements AutoCloseable {
  /** The control API generation this client speaks ({@code matgto.v1}). */
  public static final int API_VERSION = 1;

  /** Used by {@link #connect()} when neither the property nor the variable is set. */
  public static final String DEFAULT_ADDRESS = "127.0.0.1:8889";

  /** System property naming the server's control address. */
  public static final String ADDRESS_PROPERTY = "matgto.server";

  /** Environment variable naming the server's control address. */
  public static final String ADDRESS_ENV = "MATGTO_SERVER";

  /** Default deadline of each control call. */
  public static final Duration DEFAULT_CALL_TIMEOUT = Duration.ofSeconds(30);

  private final ControlChannel control;
  private final FaultCalls faultCalls;
  private final CassetteManagement cassettes;
  private final LeaseRenewals renewals;

  private MatgtoClient(ControlChannel control) {
    this.control = control;
    this.faultCalls = new FaultCalls(control);
    this.cassettes = new CassetteManagement(control);
    this.renewals = new LeaseRenewals(control.target());
  }

  /**
   * Connects to the server named by system property {@value #ADDRESS_PROPERTY}, else environment
   * variable {@value #ADDRESS_ENV}, else {@value #DEFAULT_ADDRESS}.
   */
  public static MatgtoClient connect() {
    return connect(defaultAddress());
  }

  /**
   * Connects to the control address {@code host:port} (e.g. {@code "127.0.0.1:8889"}); any gRPC
   * target string works too, and {@code https://host:port} means TLS (as with the CLI's {@code
   * --server}). No network traffic happens until the first call. The token and TLS
   * settings come from the environment ({@link ConnectionOptions#fromEnvironment()}): with none,
   * the channel is plaintext.
   */
  public static MatgtoClient connect(String address) {
    return connect(address, DEFAULT_CALL_TIMEOUT);
  }

  /** Like {@link #connect(String)}, with a deadline for each control call. */
  public static MatgtoClient connect(String address, Duration callTimeout) {
    return connect(address, callTimeout, ConnectionOptions.fromEnvironment());
  }

  /**
   * Connects to a secured (or not) control API: a token, TLS, mTLS, as {@code connection} says.
   *
   * @throws IllegalArgumentException when {@code connection} cannot be used (see {@link
   *     ConnectionOptions})
   */
  public static MatgtoClient connect(String address, ConnectionOptions connection) {
    return connect(address, DEFAULT_CALL_TIMEOUT, connection);
  }

  /** Like {@link #connect(String, ConnectionOptions)}, with a deadline for each control call. */
  public static MatgtoClient connect(
      String address, Duration callTimeout, ConnectionOptions connection) {
    return new MatgtoClient(ControlChannel.open(address, callTimeout, connection));
  }

  /** The address {@link #connect()} uses: property, then environment, then the default. */
  public static String defaultAddress() {
    return ControlChannel.defaultAddress();
  }

  /** The gRPC target this client talks to. */
  public String target() {
    return control.target();
  }

  /** Whether the control channel uses TLS. */
  public boolean isTls() {
    return control.isTls();
  }

  // ---------------------------------------------------------------- control calls

  /** Starts recording into cassette {@code name}, ending any cassette in use. */
  public SessionInfo startRecording(String name) {
    return startRecording(name, CassetteOptions.none());
  }

  /**
   * Starts recording into cassette {@code name}; {@code options} (may be null) are stored with it.
   *
   * @throws InvalidArgumentException for a bad name or a bad rule (RE2 pattern, JSON pointer)
   */
  public SessionInfo startRecording(String name, CassetteOptions options) {
    return startRecording(name, CassetteRequests.proto(options));
  }

  /** Like {@link #startRecording(String, CassetteOptions)} with the generated message. */
  public SessionInfo startRecording(String name, dev.matgto.v1.CassetteOptions options) {
    return startRecording(name, options, SessionOptions.defaultSession());
  }

  /**
   * Starts recording into cassette {@code name} in the session {@code session} names (the default
   * one, an open one, or a new one with its own proxy listener).
   *
   * @throws CassetteNotFoundException when {@code session} names no open session
   * @throws FailedPreconditionException when another session records {@code name}
   * @throws ResourceExhaustedException when the server holds as many sessions as it may
   */
  public SessionInfo startRecording(String name, CassetteOptions options, SessionOptions session) {
    return startRecording(name, CassetteRequests.proto(options), session);
  }

  /** Like {@link #startRecording(String, CassetteOptions, SessionOptions)} with the generated message. */
  public SessionInfo startRecording(
      String name, dev.matgto.v1.CassetteOptions options, SessionOptions session) {
    StartRecordingRequest req = CassetteRequests.startRecordingRequest(name, options, session);
    return control.call(stub -> stub.startRecording(req)).getSession();
  }

  /**
   * Ends the cassette in use, whatever its mode, saving what was recorded.
   *
   * @throws FailedPreconditionException when no cassette is in use
   */
  public SessionSummary stopRecording() {
    return control.call(stub -> stub.stopRecording(StopRecordingRequest.getDefaultInstance()))
        .getSummary();
  }

  /**
   * Ends session {@code sessionId}'s cassette, saving what was recorded, and closes the session
   * (its proxy listener too). An empty id, or "default", means the default session, which stays
   * open, as {@link #stopRecording()}.
   *
   * @throws SessionNotFoundException when no session {@code sessionId} is open
   * @throws FailedPreconditionException for the default session with no cassette in use
   */
  public SessionSummary stop(String sessionId) {
    Objects.requireNonNull(sessionId, "sessionId");
    String id = sessionId.equals(SessionInfos.DEFAULT_SESSION_ID) ? "" : sessionId;
    StopRecordingRequest req = StopRecordingRequest.newBuilder().setSession(id).build();
    return control.callNamingSession(id, stub -> stub.stopRecording(req)).getSummary();
  }

  /**
   * Extends the lease of session {@code sessionId} by its lease length.
   *
   * @return when the lease now runs out (null if the server did not say)
   * @throws SessionNotFoundException when the session is no longer open: it was stopped or its
   *     lease expired, and its traffic is refused
   */
  public Instant renewSession(String sessionId) {
    Objects.requireNonNull(sessionId, "sessionId");
    RenewSessionRequest req = RenewSessionRequest.newBuilder().setSession(sessionId).build();
    RenewSessionResponse r = control.callNamingSession(sessionId, stub -> stub.renewSession(req));
    return r.hasLeaseExpiresAt() ? ProtoTime.toJava(r.getLeaseExpiresAt()) : null;
  }

  /**
   * Opens a new session using cassette {@code cassette} in {@code mode}, with the default lease
   * ({@value Session#DEFAULT_LEASE_SECONDS} s) renewed in the background until {@link
   * Session#close()}.
   */
  public Session openSession(String cassette, Mode mode) {
    return session(cassette).mode(mode).open();
  }

  /** A builder for a new {@link Session} on cassette {@code cassette} (mode AUTO unless set). */
  public Session.Builder session(String cassette) {
    return new Session.Builder(this, CassetteManagement.nonNull(cassette));
  }

  /** Every open session with a cassette in use, the default one first (from {@code GetStatus}). */
  public List<SessionInfo> sessions() {
    return status().getSessionsList();
  }

  /** The open session {@code sessionId}, from {@code GetStatus}; empty when it is not open. */
  public Optional<SessionInfo> findSession(String sessionId) {
    return status().getSessionsList().stream()
        .filter(s -> s.getId().equals(sessionId))
        .findFirst();
  }

  /** How session {@code sessionId} ended, if it is among the server's recently ended sessions. */
  public Optional<SessionSummary> findEndedSession(String sessionId) {
    return status().getEndedSessionsList().stream()
        .filter(s -> s.getSession().getId().equals(sessionId))
        .findFirst();
  }

  // ---------------------------------------------------------------- faults

  /**
   * Adds fault rules to session {@code sessionId} ("default" or empty: the default session); they
   * apply to its requests in every mode until cleared or the session ends. Keeps the session's
   * seed.
   *
   * @return all the session's rules, with the ids the server gave them, and the seed
   * @throws InvalidArgumentException for a bad rule (an RE2 pattern RE2 rejects, no action, a
   *     probability outside 0..1)
   * @throws SessionNotFoundException when no session {@code sessionId} is open
   */
  public Faults setFaults(String sessionId, Fault... faults) {
    return setFaults(sessionId, 0, List.of(faults));
  }

  /**
   * Like {@link #setFaults(String, Fault...)}, reseeding the session's generator for
   * probabilistic rules with {@code seed} first (0: keep the seed), so that the same seed gives
   * the same sequence of hits. With no rule, only reseeds.
   */
  public Faults setFaults(String sessionId, long seed, Fault... faults) {
    return setFaults(sessionId, seed, List.of(faults));
  }

  /** Like {@link #setFaults(String, long, Fault...)} with a list. */
  public Faults setFaults(String sessionId, long seed, List<Fault> faults) {
    return faultCalls.set(sessionId, seed, faults);
  }

  /**
   * Removes session {@code sessionId}'s fault rules named by {@code ids} (all of them when none is
   * named).
   *
   * @return the rules left
   * @throws FaultNotFoundException when the session has no rule with one of the ids
   * @throws SessionNotFoundException when no session {@code sessionId} is open
   */
  public List<Fault> clearFaults(String sessionId, String... ids) {
    return clearFaults(sessionId, List.of(ids));
  }

  /** Like {@link #clearFaults(String, String...)} with a list. */
  public List<Fault> clearFaults(String sessionId, List<String> ids) {
    return faultCalls.clear(sessionId, ids);
  }

  /**
   * Session {@code sessionId}'s fault rules as {@code GetStatus} shows them, each with how many
   * requests it has hit ({@link Fault#applied()}).
   *
   * @throws SessionNotFoundException when no session {@code sessionId} is open
   */
  public List<Fault> faults(String sessionId) {
    return SessionInfos.faults(faultCalls.sessionInfo(sessionId));
  }

  /** The seed of session {@code sessionId}'s generator for probabilistic rules (GetStatus). */
  public long faultSeed(String sessionId) {
    return faultCalls.sessionInfo(sessionId).getFaultSeed();
  }

  /**
   * Replays cassette {@code name}.
   *
   * @throws CassetteNotFoundException when it does not exist
   */
  public SessionInfo replay(String name) {
    return replay(name, CassetteOptions.none());
  }

  /**
   * Replays cassette {@code name}; the fields set in {@code options} (may be null) override its
   * stored options for this session only.
   *
   * @throws CassetteNotFoundException when it does not exist
   * @throws InvalidArgumentException for a bad rule (RE2 pattern, JSON pointer)
   */
  public SessionInfo replay(String name, CassetteOptions options) {
    return replay(name, CassetteRequests.proto(options));
  }

  /** Like {@link #replay(String, CassetteOptions)} with the generated message. */
  public SessionInfo replay(String name, dev.matgto.v1.CassetteOptions options) {
    return replay(name, options, SessionOptions.defaultSession());
  }

  /**
   * Replays cassette {@code name} in the session {@code session} names. Any number of sessions may
   * replay one cassette at once, each with its own "used" state.
   *
   * @throws CassetteNotFoundException when the cassette does not exist or {@code session} names no
   *     open session
   */
  public SessionInfo replay(String name, CassetteOptions options, SessionOptions session) {
    return replay(name, CassetteRequests.proto(options), session);
  }

  /** Like {@link #replay(String, CassetteOptions, SessionOptions)} with the generated message. */
  public SessionInfo replay(
      String name, dev.matgto.v1.CassetteOptions options, SessionOptions session) {
    ReplayRequest req = CassetteRequests.replayRequest(name, options, session);
    return control.call(stub -> stub.replay(req)).getSession();
  }

  /** Uses cassette {@code name} in {@code mode} ({@link Mode#AUTO}: replay if it exists, else record). */
  public SessionInfo useCassette(String name, Mode mode) {
    return useCassette(name, mode, CassetteOptions.none());
  }

  /** Like {@link #useCassette(String, Mode)} with options (may be null). */
  public SessionInfo useCassette(String name, Mode mode, CassetteOptions options) {
    return useCassette(name, mode, CassetteRequests.proto(options));
  }

  /** Like {@link #useCassette(String, Mode, CassetteOptions)} with the generated message. */
  public SessionInfo useCassette(String name, Mode mode, dev.matgto.v1.CassetteOptions options) {
    return useCassette(name, mode, options, SessionOptions.defaultSession());
  }

  /** Uses cassette {@code name} in {@code mode} in the session {@code session} names. */
  public SessionInfo useCassette(
      String name, Mode mode, CassetteOptions options, SessionOptions session) {
    return useCassette(name, mode, CassetteRequests.proto(options), session);
  }

  /** Like {@link #useCassette(String, Mode, CassetteOptions, SessionOptions)} with the generated message. */
  public SessionInfo useCassette(
      String name, Mode mode, dev.matgto.v1.CassetteOptions options, SessionOptions session) {
    Objects.requireNonNull(mode, "mode");
    UseCassetteRequest req = CassetteRequests.useCassetteRequest(name, mode, options, session);
    return control.call(stub -> stub.useCassette(req)).getSession();
  }

  /** The server's status; also (re)checks the control API version. */
  public GetStatusResponse status() {
    return control.status();
  }

  /** Asks the server to exit gracefully (in-flight exchanges get 5 s, a recording is saved). */
  public void shutdown() {
    shutdown(null);
  }

  /** Asks the server to exit, giving in-flight exchanges {@code grace} (null: server default). */
  public void shutdown(Duration grace) {
    ShutdownRequest.Builder req = ShutdownRequest.newBuilder();
    if (grace != null) {
      req.setGrace(ProtoTime.toProto(grace));
    }
    control.call(stub -> stub.shutdown(req.build()));
  }

  /**
   * The PEM certificate of the CA that signs the HTTPS hosts the server intercepts (CONNECT);
   * HTTP clients must trust it, as {@link #httpClientBuilder()} and {@link #sslContext()} do.
   *
   * @throws UnimplementedException on a server that predates HTTPS interception
   */
  public String caCertificatePem() {
    return control.call(stub -> stub.getCACertificate(GetCACertificateRequest.getDefaultInstance()))
        .getPem();
  }

  // ---------------------------------------------------------------- cassette management

  /** The size of the chunks {@link #putCassette} sends (the server sends the same). */
  public static final int CHUNK_SIZE = 1 << 20;

  /** The cassette schema version {@link #putCassette} writes when a cassette has none. */
  public static final int CASSETTE_SCHEMA_VERSION = 1;

  /** All stored cassettes. */
  public List<CassetteInfo> listCassettes() {
    return listCassettes("");
  }

  /** The stored cassettes whose names start with {@code prefix}. */
  public List<CassetteInfo> listCassettes(String prefix) {
    return cassettes.list(prefix);
  }

  /**
   * Downloads cassette {@code name} as stored (timestamps and {@code written_by} kept),
   * reassembled from the chunks the server streams.
   *
   * @throws CassetteNotFoundException when it does not exist
   * @throws CorruptCassetteException when it cannot be read
   */
  public Cassette getCassette(String name) {
    return cassettes.get(name);
  }

  /**
   * Stores {@code cassette} as cassette {@code name}, replacing an existing one atomically; the
   * server names it {@code name} whatever its own name field says. A copy is sent, with {@code
   * schema_version} set to {@value #CASSETTE_SCHEMA_VERSION} when it is 0 and {@code complete}
   * set, in chunks of {@value #CHUNK_SIZE} bytes.
   *
   * @throws InvalidArgumentException for a bad name or bytes the server cannot read as a cassette
   * @throws FailedPreconditionException when {@code name} is the cassette in use
   */
  public CassetteInfo putCassette(String name, Cassette cassette) {
    return cassettes.put(name, cassette);
  }

  /**
   * Deletes cassette {@code name}.
   *
   * @throws CassetteNotFoundException when it does not exist
   * @throws FailedPreconditionException while it is in use
   */
  public void deleteCassette(String name) {
    cassettes.delete(name);
  }

  /**
   * Follows everything the server does, live ({@code WatchEvents}, what {@code matgto tail}
   * shows): every exchange (method, URL with query values redacted, status, result), every miss
   * with its explanation, and session events, from now on. See {@link EventStream}; close it to
   * stop. No deadline applies. A read token is enough; a prefix token sees only its cassettes.
   *
   * @throws UnauthenticatedException without a valid token (when the server requires one)
   */
  public EventStream watchEvents() {
    return watchEvents(null, null);
  }

  /**
   * Like {@link #watchEvents()}, only the events of session {@code sessionId} ({@code "default"}
   * for the default session) and of cassette {@code cassette}; {@code null} or empty: any.
   *
   * @throws PermissionDeniedException for a cassette outside the token's prefix
   */
  public EventStream watchEvents(String sessionId, String cassette) {
    WatchEventsRequest req = EventStream.request(sessionId, cassette);
    control.ensureCompatible();
    return EventStream.start(control.channel(), req);
  }

  // ---------------------------------------------------------------- java.net.http helpers

  /** The proxy's address, from {@code GetStatus}. */
  public InetSocketAddress proxyAddress() {
    return HostPort.parse(status().getProxyAddress(), HostPort.hostOf(target()));
  }

  /**
   * The proxy address of {@code session}: a new session's own listener, the shared port for the
   * default session. A wildcard host is replaced by the host this client connects to.
   */
  public InetSocketAddress proxyAddress(SessionInfo session) {
    return HostPort.parse(session.getProxyAddress(), HostPort.hostOf(target()));
  }

  /** {@code http://} + the proxy address of {@code session}, a wildcard host replaced as above. */
  URI proxyUri(SessionInfo session) {
    return URI.create(HostPort.httpUrl(session.getProxyAddress(), HostPort.hostOf(target())));
  }

  /** A selector sending every request through the matgto proxy. */
  public ProxySelector proxySelector() {
    return ProxySelector.of(proxyAddress());
  }

  /**
   * An SSL context that trusts the matgto CA in addition to the JVM's default trust store.
   *
   * @throws UnimplementedException while the server has no HTTPS interception
   */
  public SSLContext sslContext() {
    return Tls.sslContextTrusting(caCertificatePem());
  }

  /** An SSL context that trusts {@code caPem} (PEM certificates) and the JVM's default roots. */
  public static SSLContext sslContextTrusting(String caPem) {
    return Tls.sslContextTrusting(caPem);
  }

  /**
   * An {@link HttpClient.Builder} that goes through the matgto proxy over HTTP/1.1 and, when the
   * server intercepts HTTPS, trusts its CA. Further settings may be added before {@code build()}.
   */
  public HttpClient.Builder httpClientBuilder() {
    return ProxiedHttpClients.builder(this, proxySelector());
  }

  // ---------------------------------------------------------------- version check

  /**
   * Checks that {@code status} comes from a server speaking control API version {@value
   * #API_VERSION}.
   *
   * @param target the server's address, for the message
   * @throws IncompatibleServerException otherwise
   */
  public static void checkCompatible(GetStatusResponse status, String target) {
    if (status.getApiVersion() != API_VERSION) {
      throw new IncompatibleServerException(
          Integer.toUnsignedLong(status.getApiVersion()), status.getVersion(), target);
    }
  }

  /** Renews a lease without blocking the caller: the answer goes to {@code observer}. */
  void renewAsync(
      String sessionId, Duration deadline, StreamObserver<RenewSessionResponse> observer) {
    control.renewAsync(sessionId, deadline, observer);
  }

  /** The daemon thread that renews the leases of this client's {@link Session}s. */
  ScheduledExecutorService renewals() {
    return renewals.executor();
  }

  /** Closes the connection (does not stop the server; see {@link #shutdown()}). */
  @Override
  public void close() {
    renewals.shutdownNow();
    control.close();
  }

  @Override
  public String toString() {
    return "MatgtoClient[" + target() + "]";
  }
}
