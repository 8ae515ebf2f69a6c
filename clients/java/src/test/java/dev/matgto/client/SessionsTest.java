package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.Cassette;
import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Sessions (CONTRACT.md, "Sessions (issue 9)") against the real server. */
class SessionsTest extends ServerTestBase {

  /** A failed test must not leave sessions behind for the next one. */
  @AfterEach
  void stopLeftoverSessions() {
    for (SessionInfo s : client.status().getSessionsList()) {
      if (!SessionInfos.isDefault(s)) {
        try {
          client.stop(s.getId());
        } catch (SessionNotFoundException gone) {
          // ended meanwhile
        }
      }
    }
  }

  static HttpClient through(InetSocketAddress proxy) {
    return HttpClient.newBuilder()
        .proxy(java.net.ProxySelector.of(proxy))
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5))
        .build();
  }

  static HttpResponse<String> send(HttpClient http, URI uri) throws Exception {
    return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static void waitFor(String what, Duration timeout, java.util.function.BooleanSupplier ok)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!ok.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      Thread.sleep(50);
    }
  }

  /** A raw proxy request on {@code proxy}, with extra header lines; returns the whole answer. */
  static String rawGet(InetSocketAddress proxy, URI uri, String... headers) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(proxy, 5000);
      s.setSoTimeout(20000);
      StringBuilder req = new StringBuilder("GET " + uri + " HTTP/1.1\r\nHost: "
          + uri.getAuthority() + "\r\nConnection: close\r\n");
      for (String h : headers) {
        req.append(h).append("\r\n");
      }
      req.append("\r\n");
      OutputStream out = s.getOutputStream();
      out.write(req.toString().getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
    }
  }

  @Test
  void aNewSessionHasItsOwnListenerAndRecordsThroughIt() throws Exception {
    try (Upstream upstream = new Upstream()) {
      Session s = client.session("sess/own").mode(Mode.RECORD).owner("SessionsTest own").open();
      assertTrue(s.id().matches("s-[0-9a-f]{16}"), s.id());
      assertNotEquals(server.proxyAddress(), s.info().getProxyAddress(), "a listener of its own");
      assertTrue(s.info().getProxyAddress().startsWith("127.0.0.1:"), s.info().getProxyAddress());
      assertEquals("http://" + s.id() + ":matgto@" + server.proxyAddress(), s.proxyUrl());
      assertEquals(Mode.RECORD, s.mode());

      HttpResponse<String> live = send(s.httpClientBuilder().build(), upstream.uri("/text/own"));
      assertEquals(200, live.statusCode(), live.body());
      assertEquals(1, upstream.calls());

      GetStatusResponse status = client.status();
      assertFalse(status.hasSession(), "the default session has no cassette");
      SessionInfo listed = status.getSessionsList().stream()
          .filter(i -> i.getId().equals(s.id())).findFirst().orElseThrow();
      assertEquals("SessionsTest own", listed.getOwner());
      assertEquals("sess/own", listed.getCassette());
      assertEquals(1, listed.getRecorded());
      assertEquals(Duration.ofSeconds(30), SessionInfos.lease(listed).orElseThrow());
      Instant opened = SessionInfos.openedAt(listed).orElseThrow();
      assertTrue(SessionInfos.leaseExpiresAt(listed).orElseThrow().isAfter(opened));
      assertFalse(SessionInfos.age(listed).isNegative());
      assertEquals(256, status.getMaxSessions(), "--max-sessions default");

      // The shared port still serves the default session, which has no cassette: 503.
      HttpResponse<String> shared = get503(upstream.uri("/text/shared"));
      assertEquals(503, shared.statusCode());

      SessionSummary summary = s.stop();
      assertEquals("stopped", summary.getEndReason());
      assertTrue(SessionInfos.endedAt(summary).isPresent());
      assertEquals(1, summary.getSession().getRecorded());
      assertFalse(summary.getSavedPath().isEmpty());
      assertEquals("", summary.getSaveError());
      assertEquals(1, client.getCassette("sess/own").getInteractionsCount());

      assertTrue(client.findSession(s.id()).isEmpty(), "no longer listed as open");
      SessionSummary ended = client.findEndedSession(s.id()).orElseThrow();
      assertEquals("stopped", ended.getEndReason());
      assertThrows(IOException.class,
          () -> send(through(s.proxyAddress()), upstream.uri("/text/after")),
          "stopping the session closes its port");
    }
  }

  private HttpResponse<String> get503(URI uri) throws Exception {
    HttpResponse<String> r = send(http, uri);
    assertEquals("no-cassette", r.headers().firstValue("X-Matgto-Error").orElse(""));
    return r;
  }

  @Test
  void aSecondRecorderOfTheSameCassetteIsRefusedNamingTheHolder() {
    try (Session first = client.session("sess/contended").mode(Mode.RECORD).open()) {
      FailedPreconditionException e = assertThrows(FailedPreconditionException.class,
          () -> client.session("sess/contended").mode(Mode.RECORD).open());
      assertTrue(e.getServerMessage().contains(first.id()),
          "the message names the holding session: " + e.getServerMessage());
      assertEquals(1, client.status().getSessionsCount(), "the refused session was not opened");
    }
  }

  @Test
  void manySessionsReplayOneCassetteEachWithItsOwnState() throws Exception {
    URI uri;
    String recorded;
    try (Upstream upstream = new Upstream()) {
      uri = upstream.uri("/text/shared-cassette");
      client.startRecording("sess/replayed");
      recorded = send(http, uri).body();
      client.stopRecording();
    }
    CassetteOptions strict = CassetteOptions.builder().onExhausted(ExhaustedPolicy.ERROR).build();
    try (Session a = client.session("sess/replayed").mode(Mode.REPLAY).options(strict).open();
        Session b = client.session("sess/replayed").mode(Mode.REPLAY).options(strict).open()) {
      HttpClient ha = a.httpClientBuilder().build();
      HttpClient hb = b.httpClientBuilder().build();
      assertEquals(recorded, send(ha, uri).body());
      HttpResponse<String> again = send(ha, uri);
      assertEquals(599, again.statusCode(), "a's only answer is used up");
      assertEquals("exhausted", again.headers().firstValue("X-Matgto-Error").orElse(""));
      assertEquals(recorded, send(hb, uri).body(), "b has its own used state");
      assertEquals(1, a.status().orElseThrow().getMissed());
      assertEquals(0, b.status().orElseThrow().getMissed());
      assertEquals("exhausted", a.stop().getSession().getMisses(0).getReason());
    }
  }

  @Test
  void unknownSessionsAreNotFound() {
    String nobody = "s-0000000000000000";
    assertThrows(CassetteNotFoundException.class,
        () -> client.useCassette("sess/x", Mode.AUTO, CassetteOptions.none(),
            SessionOptions.existing(nobody)));
    SessionNotFoundException stop =
        assertThrows(SessionNotFoundException.class, () -> client.stop(nobody));
    assertEquals(nobody, stop.getSessionId());
    assertThrows(SessionNotFoundException.class, () -> client.renewSession(nobody));
    assertThrows(FailedPreconditionException.class, () -> client.stopRecording(),
        "the default session still has nothing to stop");
  }

  @Test
  void renewingExtendsTheLease() throws Exception {
    SessionInfo s = client.useCassette("sess/renew", Mode.RECORD, CassetteOptions.none(),
        SessionOptions.newSession(Duration.ofSeconds(10), "renew test"));
    try {
      Instant first = SessionInfos.leaseExpiresAt(s).orElseThrow();
      Thread.sleep(1100);
      Instant renewed = client.renewSession(s.getId());
      assertTrue(renewed.isAfter(first), first + " then " + renewed);
    } finally {
      client.stop(s.getId());
    }
  }

  @Test
  void anUnrenewedLeaseEndsTheSessionAndSavesItsRecording() throws Exception {
    try (Upstream upstream = new Upstream()) {
      SessionInfo s = client.startRecording("sess/expired", CassetteOptions.none(),
          SessionOptions.newSession(Duration.ofSeconds(1), "expiry test"));
      InetSocketAddress proxy = client.proxyAddress(s);
      assertEquals(200, send(through(proxy), upstream.uri("/text/before-expiry")).statusCode());
      waitFor("the lease to expire", Duration.ofSeconds(15),
          () -> client.findEndedSession(s.getId()).isPresent());
      SessionSummary ended = client.findEndedSession(s.getId()).orElseThrow();
      assertEquals("lease-expired", ended.getEndReason());
      assertEquals(1, ended.getSession().getRecorded());
      assertTrue(client.findSession(s.getId()).isEmpty());
      assertThrows(SessionNotFoundException.class, () -> client.renewSession(s.getId()));
      Cassette c = client.getCassette("sess/expired");
      assertEquals(1, c.getInteractionsCount(), "what it recorded was saved");
      assertThrows(IOException.class, () -> send(through(proxy), upstream.uri("/text/after")));
    }
  }

  @Test
  void aSessionKeepsAShortLeaseAliveByRenewing() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("sess/kept").mode(Mode.RECORD)
            .lease(Duration.ofSeconds(1)).open()) {
      Thread.sleep(3000);
      assertFalse(s.isLost());
      assertTrue(s.renewals() >= 4, "renewed every ~333 ms: " + s.renewals());
      assertTrue(s.status().isPresent(), "still open after three leases");
      assertEquals(200, send(s.httpClientBuilder().build(), upstream.uri("/t")).statusCode());
    }
  }

  @Test
  void aSessionStoppedBehindItsBackIsLostAtTheNextRenewal() throws Exception {
    Session s = client.session("sess/lost").mode(Mode.RECORD).lease(Duration.ofSeconds(1)).open();
    client.stop(s.id()); // as another process might
    waitFor("the renewal to find it gone", Duration.ofSeconds(5), s::isLost);
    SessionLostException e = assertThrows(SessionLostException.class, s::close);
    assertEquals(s.id(), e.getSessionId());
    assertEquals("stopped", e.getEndedSummary().orElseThrow().getEndReason());
    assertTrue(e.getMessage().contains("renewing its lease answered NOT_FOUND"), e.getMessage());
  }

  @Test
  void theSharedPortRoutesBySessionCredential() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("sess/credential").mode(Mode.RECORD).open()) {
      InetSocketAddress shared = hostPort(server.proxyAddress());
      String answer = rawGet(shared, upstream.uri("/text/by-credential"),
          "Proxy-Authorization: " + s.proxyAuthorization());
      assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
      assertEquals(1, s.status().orElseThrow().getRecorded(), "recorded in the named session");

      String unknown = rawGet(shared, upstream.uri("/text/unknown"),
          "Proxy-Authorization: " + SessionInfos.proxyAuthorization("s-0000000000000000"));
      assertTrue(unknown.startsWith("HTTP/1.1 407"), unknown);
      assertTrue(unknown.toLowerCase().contains("x-matgto-error: unknown-session"), unknown);
    }
  }

  @Test
  void leasesOutsideOneSecondToOneHourAreInvalid() {
    assertThrows(InvalidArgumentException.class,
        () -> client.session("sess/short").lease(Duration.ofMillis(500)).open());
    assertThrows(InvalidArgumentException.class,
        () -> client.session("sess/long").lease(Duration.ofHours(1).plusSeconds(1)).open());
    assertEquals(0, client.status().getSessionsCount());
  }

  @Test
  void theDefaultSessionKeepsWorkingBesideNewOnes() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("sess/beside").mode(Mode.RECORD).open()) {
      SessionInfo d = client.startRecording("sess/default");
      assertEquals("default", d.getId());
      assertEquals(server.proxyAddress(), d.getProxyAddress());
      assertEquals(200, get(upstream.uri("/text/default")).statusCode());
      assertEquals(200, send(s.httpClientBuilder().build(), upstream.uri("/text/new")).statusCode());
      GetStatusResponse st = client.status();
      assertEquals("default", st.getSessions(0).getId(), "the default session is listed first");
      assertEquals(s.id(), st.getSessions(1).getId());
      assertEquals(1, client.stopRecording().getSession().getRecorded());
      assertEquals(1, s.stop().getSession().getRecorded());
      assertEquals(List.of(upstream.uri("/text/default").toString()),
          client.getCassette("sess/default").getInteractionsList().stream()
              .map(i -> i.getHttp().getRequest().getUrl()).toList());
    }
  }

  @Test
  void anotherCassetteInTheSameSessionReplacesTheFirst() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("sess/first").mode(Mode.RECORD).open()) {
      assertEquals(200, send(s.httpClientBuilder().build(), upstream.uri("/text/1")).statusCode());
      SessionInfo second = client.useCassette("sess/second", Mode.RECORD, CassetteOptions.none(),
          SessionOptions.existing(s.id()));
      assertEquals(s.id(), second.getId(), "the same session");
      assertEquals(s.info().getProxyAddress(), second.getProxyAddress(), "and the same port");
      SessionSummary replaced = client.findEndedSession(s.id()).orElseThrow();
      assertEquals("replaced", replaced.getEndReason());
      assertEquals("sess/first", replaced.getSession().getCassette());
      assertEquals(1, client.getCassette("sess/first").getInteractionsCount(), "saved");
      assertEquals("sess/second", s.status().orElseThrow().getCassette());
    }
  }

  @Test
  void endedSessionsAreListedMostRecentFirst() {
    Session a = client.openSession("sess/ended-a", Mode.RECORD);
    Session b = client.openSession("sess/ended-b", Mode.RECORD);
    a.stop();
    b.stop();
    List<SessionSummary> ended = client.status().getEndedSessionsList();
    assertEquals(b.id(), ended.get(0).getSession().getId());
    assertEquals(a.id(), ended.get(1).getSession().getId());
    assertFalse(SessionInfos.endedAt(ended.get(0)).orElseThrow()
        .isBefore(SessionInfos.endedAt(ended.get(1)).orElseThrow()));
  }

  @Test
  void aCassetteASessionUsesCannotBeDeleted() {
    client.startRecording("sess/in-use");
    client.stopRecording();
    try (Session s = client.openSession("sess/in-use", Mode.REPLAY)) {
      assertThrows(FailedPreconditionException.class, () -> client.deleteCassette("sess/in-use"));
    }
    client.deleteCassette("sess/in-use");
  }

  @Test
  void beyondMaxSessionsIsResourceExhausted() throws Exception {
    try (LocalServer small = LocalServer.builder().args("--max-sessions", "2").start();
        MatgtoClient c = small.client();
        Session a = c.openSession("max/a", Mode.RECORD);
        Session b = c.openSession("max/b", Mode.RECORD)) {
      assertEquals(2, c.status().getMaxSessions());
      ResourceExhaustedException e = assertThrows(ResourceExhaustedException.class,
          () -> c.openSession("max/c", Mode.RECORD));
      assertEquals(io.grpc.Status.Code.RESOURCE_EXHAUSTED, e.getCode());
      Optional<SessionInfo> none = c.status().getSessionsList().stream()
          .filter(i -> i.getCassette().equals("max/c")).findAny();
      assertTrue(none.isEmpty());
      assertTrue(a.status().isPresent() && b.status().isPresent());
    }
  }
}
