package dev.matgto.client.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import dev.matgto.client.BodyMatch;
import dev.matgto.client.CassetteOptions;
import dev.matgto.client.ExhaustedPolicy;
import dev.matgto.client.FailedPreconditionException;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.LocalServer;
import dev.matgto.client.MissPolicy;
import dev.matgto.client.Mode;
import dev.matgto.client.RepeatPolicy;
import dev.matgto.client.Session;
import dev.matgto.client.SessionInfos;
import dev.matgto.client.Upstream;
import dev.matgto.client.WsTiming;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/** Runs fixture test classes that use @MatgtoCassette through the JUnit engine. */
class ExtensionTest {
  static LocalServer server;
  static MatgtoClient client;

  /** What each fixture test saw, by cassette name. */
  static final Map<String, SessionInfo> SESSIONS = new ConcurrentHashMap<>();
  static final Map<String, String> BODIES = new ConcurrentHashMap<>();
  /** The session as GetStatus listed it during the test, by cassette name. */
  static final Map<String, SessionInfo> LISTED = new ConcurrentHashMap<>();
  static final Map<String, String> PROXIES = new ConcurrentHashMap<>();
  static volatile URI upstreamBase;

  @BeforeAll
  static void start() throws Exception {
    server = LocalServer.start();
    client = server.client();
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.close();
    }
    if (server != null) {
      server.close();
    }
  }

  @AfterEach
  void clear() {
    SESSIONS.clear();
    BODIES.clear();
    LISTED.clear();
    PROXIES.clear();
    try {
      client.stopRecording();
    } catch (FailedPreconditionException idle) {
      // expected: the extension ended its cassettes
    }
  }

  private EngineExecutionResults run(Class<?> fixture) {
    return EngineTestKit.engine("junit-jupiter")
        .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.controlAddress())
        .selectors(selectClass(fixture))
        .execute();
  }

  private static String failures(EngineExecutionResults results) {
    return results.allEvents().failed().stream()
        .map(ExtensionTest::describe)
        .collect(Collectors.joining("\n"));
  }

  private static String describe(Event e) {
    return e.getTestDescriptor().getDisplayName() + ": "
        + e.getPayload(org.junit.platform.engine.TestExecutionResult.class)
            .flatMap(org.junit.platform.engine.TestExecutionResult::getThrowable)
            .map(Throwable::toString)
            .orElse("?");
  }

  static String fetch(HttpClient http, String path) throws Exception {
    HttpResponse<String> r =
        http.send(HttpRequest.newBuilder(upstreamBase.resolve(path)).build(),
            HttpResponse.BodyHandlers.ofString());
    return r.statusCode() + " " + r.body();
  }

  // ------------------------------------------------------------------ fixtures

  @MatgtoCassette
  static class Fixture {
    @Test
    void plain(HttpClient http, SessionInfo session, MatgtoClient matgto, Session handle,
        InetSocketAddress proxy, ProxySelector selector) throws Exception {
      SESSIONS.put(session.getCassette(), session);
      LISTED.put(session.getCassette(), matgto.findSession(session.getId()).orElseThrow());
      assertEquals(session.getId(), handle.id());
      assertEquals(handle.proxyAddress(), proxy);
      assertEquals(List.of(java.net.Proxy.Type.HTTP), selector.select(upstreamBase).stream()
          .map(java.net.Proxy::type).collect(Collectors.toList()));
      assertEquals(proxy, selector.select(upstreamBase).get(0).address());
      PROXIES.put(session.getCassette(), session.getProxyAddress());
      BODIES.put(session.getCassette(), fetch(http, "/text/plain"));
    }

    @Test
    @MatgtoCassette(value = "ext/explicit", mode = Mode.RECORD)
    void explicit(HttpClient http, SessionInfo session) throws Exception {
      SESSIONS.put(session.getCassette(), session);
      BODIES.put(session.getCassette(), fetch(http, "/text/explicit"));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void param(int n, HttpClient http, SessionInfo session) throws Exception {
      SESSIONS.put(session.getCassette(), session);
      BODIES.put(session.getCassette(), fetch(http, "/text/param/" + n));
    }

    @Nested
    class Inner {
      @Test
      void inner(SessionInfo session) {
        SESSIONS.put(session.getCassette(), session);
      }
    }
  }

  @MatgtoCassette("ext/folder")
  static class FolderFixture {
    @Test
    void one(SessionInfo session) {
      SESSIONS.put(session.getCassette(), session);
    }
  }

  static class MissFixture {
    @Test
    @MatgtoCassette(value = "ext/miss", mode = Mode.REPLAY)
    void missing(HttpClient http) throws Exception {
      BODIES.put("miss", fetch(http, "/text/not-in-cassette"));
    }

    @Test
    @MatgtoCassette(value = "ext/miss", mode = Mode.REPLAY, failOnMiss = false)
    void missingTolerated(HttpClient http) throws Exception {
      BODIES.put("tolerated", fetch(http, "/text/not-in-cassette"));
    }
  }

  static class ExhaustedFixture {
    @Test
    @MatgtoCassette(value = "ext/exhausted", mode = Mode.REPLAY,
        onExhausted = ExhaustedPolicy.ERROR)
    void twice(HttpClient http) throws Exception {
      BODIES.put("first", fetch(http, "/text/once"));
      BODIES.put("second", fetch(http, "/text/once"));
    }
  }

  static class DefaultSessionFixture {
    @Test
    @MatgtoCassette(value = "ext/default-session", mode = Mode.RECORD, newSession = false)
    void shared(SessionInfo session, MatgtoClient matgto, InetSocketAddress proxy)
        throws Exception {
      SESSIONS.put(session.getCassette(), session);
      LISTED.put(session.getCassette(), matgto.status().getSession());
      PROXIES.put(session.getCassette(), proxy.getHostString() + ":" + proxy.getPort());
    }
  }

  static class LeaseFixture {
    @Test
    @MatgtoCassette(value = "ext/long", mode = Mode.RECORD, leaseSeconds = 1)
    void outlivesItsLease(HttpClient http, Session session) throws Exception {
      Thread.sleep(2500); // 2.5 leases: renewals keep the session open
      BODIES.put("long", fetch(http, "/text/long"));
      BODIES.put("long renewals", Long.toString(session.renewals()));
    }

    @Test
    @MatgtoCassette(value = "ext/lost", mode = Mode.RECORD, leaseSeconds = 1)
    void losesItsSession(Session session, MatgtoClient matgto) throws Exception {
      matgto.stop(session.id()); // as if the server had ended it
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (!session.isLost() && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      BODIES.put("lost", Boolean.toString(session.isLost()));
    }
  }

  static class UnknownReplayFixture {
    @Test
    @MatgtoCassette(value = "ext/does-not-exist", mode = Mode.REPLAY)
    void never() {
      BODIES.put("ran", "yes");
    }
  }

  static class OptionsFixture {
    @Test
    @MatgtoCassette(value = "ext/options", mode = Mode.REPLAY, onMiss = MissPolicy.RECORD,
        repeat = RepeatPolicy.REUSE, ignoreJsonPointers = "/ts", redactQueryParams = "token",
        urlRewrites = "/items/[0-9]+=>/items/N")
    void withOptions(HttpClient http, SessionInfo session) throws Exception {
      SESSIONS.put(session.getCassette(), session);
      BODIES.put("recorded", fetch(http, "/text/recorded"));
      BODIES.put("again", fetch(http, "/text/recorded"));
      BODIES.put("new", fetch(http, "/text/new?token=abc")); // a miss: forwarded and recorded
    }

    @Test
    @MatgtoCassette(value = "ext/bad-options", urlRewrites = "/items/([0-9]+=>/items/N")
    void badRewrite() {
      BODIES.put("bad ran", "yes");
    }

    @Test
    @MatgtoCassette("ext/plain")
    void plain() {}

    // Not a test: only its annotation is read.
    @MatgtoCassette(value = "ext/stream", streamTiming = WsTiming.AS_RECORDED, streamSpeed = 3)
    void streamPacing() {}
  }

  // ------------------------------------------------------------------ tests

  @Test
  void annotationAttributesBecomeCassetteOptions() throws Exception {
    MatgtoCassette a =
        OptionsFixture.class.getDeclaredMethod("withOptions", HttpClient.class, SessionInfo.class)
            .getAnnotation(MatgtoCassette.class);
    dev.matgto.v1.CassetteOptions p = CassetteAnnotations.options(a).toProto();
    assertEquals(dev.matgto.v1.MissPolicy.MISS_RECORD, p.getOnMiss());
    assertEquals(dev.matgto.v1.RepeatPolicy.REUSE, p.getRepeat());
    assertEquals(dev.matgto.v1.BodyMatch.BODY_JSON, p.getMatchRules().getBody());
    assertEquals(List.of("/ts"), p.getMatchRules().getIgnoreJsonPointersList());
    assertEquals("/items/[0-9]+", p.getMatchRules().getUrlRewrites(0).getPattern());
    assertEquals("/items/N", p.getMatchRules().getUrlRewrites(0).getReplacement());
    assertEquals(List.of("token"), p.getRedact().getQueryParamsList());
    assertEquals(dev.matgto.v1.WsTiming.WS_TIMING_UNSPECIFIED, p.getWsTiming(),
        "unset attributes stay unset");

    MatgtoCassette plain =
        OptionsFixture.class.getDeclaredMethod("plain").getAnnotation(MatgtoCassette.class);
    assertEquals(CassetteOptions.none(), CassetteAnnotations.options(plain));
    assertEquals(BodyMatch.DEFAULT, plain.matchBody());

    MatgtoCassette stream =
        OptionsFixture.class.getDeclaredMethod("streamPacing").getAnnotation(MatgtoCassette.class);
    dev.matgto.v1.CassetteOptions s = CassetteAnnotations.options(stream).toProto();
    assertEquals(dev.matgto.v1.WsTiming.AS_RECORDED, s.getStreamTiming());
    assertEquals(3.0, s.getStreamSpeed());
    assertEquals(dev.matgto.v1.WsTiming.WS_TIMING_UNSPECIFIED, s.getWsTiming());
  }

  @Test
  void annotationOptionsReachTheServer() throws Exception {
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      client.startRecording("ext/options");
      String recorded = fetch(HttpClient.newBuilder().proxy(client.proxySelector()).build(), "/text/recorded");
      client.stopRecording();

      EngineExecutionResults r =
          EngineTestKit.engine("junit-jupiter")
              .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.controlAddress())
              .selectors(selectMethod(
                  OptionsFixture.class, "withOptions", HttpClient.class.getName() + ","
                      + SessionInfo.class.getName()))
              .execute();
      assertEquals(1, r.testEvents().succeeded().count(),
          "a miss forwarded by onMiss = RECORD does not fail the test: " + failures(r));
      SessionInfo s = SESSIONS.get("ext/options");
      assertEquals(dev.matgto.v1.Mode.REPLAY, s.getMode());
      assertEquals(dev.matgto.v1.MissPolicy.MISS_RECORD, s.getOptions().getOnMiss());
      assertEquals(dev.matgto.v1.RepeatPolicy.REUSE, s.getOptions().getRepeat());
      assertEquals(recorded, BODIES.get("recorded"));
      assertEquals(recorded, BODIES.get("again"), "REUSE answers twice");
      assertTrue(BODIES.get("new").startsWith("200 call 2 "), BODIES.get("new"));
      dev.matgto.v1.Cassette c = client.getCassette("ext/options");
      assertEquals(2, c.getInteractionsCount(), "the miss was appended");
      assertFalse(c.getInteractions(1).getHttp().getRequest().getUrl().contains("abc"),
          "the token is redacted: " + c.getInteractions(1).getHttp().getRequest().getUrl());
    }
  }

  @Test
  void badAnnotationRuleFailsBeforeTheTest() {
    EngineExecutionResults r =
        EngineTestKit.engine("junit-jupiter")
            .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.controlAddress())
            .selectors(selectMethod(
                OptionsFixture.class, "badRewrite"))
            .execute();
    assertEquals(1, r.testEvents().failed().count(), failures(r));
    assertTrue(failures(r).contains("InvalidArgumentException"), failures(r));
    assertFalse(BODIES.containsKey("bad ran"), "the test body did not run");
  }

  /** The default cassette folder of {@link Fixture}'s tests: its fully qualified name. */
  static final String P = "dev.matgto.client.junit.ExtensionTest.Fixture/";

  @Test
  void recordsThenReplaysWithDefaultNames() throws Exception {
    Map<String, String> firstBodies;
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      EngineExecutionResults first = run(Fixture.class);
      assertEquals(0, first.testEvents().failed().count(), failures(first));
      assertEquals(5, first.testEvents().succeeded().count(), failures(first));

      assertEquals(
          List.of(
              "dev.matgto.client.junit.ExtensionTest.Fixture.Inner/inner",
              P + "param[1]",
              P + "param[2]",
              P + "plain",
              "ext/explicit"),
          List.copyOf(new TreeMap<>(SESSIONS).keySet()));
      SessionInfo listed = LISTED.get(P + "plain");
      SessionInfo plain = SESSIONS.get(P + "plain");
      assertTrue(plain.getId().matches("s-[0-9a-f]{16}"), plain.getId());
      assertEquals(plain.getId(), listed.getId());
      assertEquals("junit " + Fixture.class.getName() + "#plain pid "
          + ProcessHandle.current().pid(), listed.getOwner());
      assertEquals(java.time.Duration.ofSeconds(30), SessionInfos.lease(listed).orElseThrow(),
          "the default lease");
      assertTrue(SessionInfos.leaseExpiresAt(listed).orElseThrow()
          .isAfter(SessionInfos.openedAt(listed).orElseThrow()));
      assertNotEquals(server.proxyAddress(), PROXIES.get(P + "plain"),
          "the test's proxy is its session's own listener, not the shared port");
      assertEquals(SESSIONS.size(),
          SESSIONS.values().stream().map(SessionInfo::getId).distinct().count(),
          "one session per test");
      for (SessionInfo s : SESSIONS.values()) {
        assertEquals(dev.matgto.v1.Mode.RECORD, s.getMode(), "first run records " + s.getCassette());
      }
      assertEquals(dev.matgto.v1.Mode.AUTO,
          SESSIONS.get(P + "plain").getRequestedMode());
      assertEquals(dev.matgto.v1.Mode.RECORD, SESSIONS.get("ext/explicit").getRequestedMode());
      assertFalse(client.status().hasSession(), "the default session was not used");
      assertEquals(0, client.status().getSessionsCount(), "every test's session was stopped");
      for (SessionInfo s : SESSIONS.values()) {
        SessionSummary ended = client.findEndedSession(s.getId()).orElseThrow();
        assertEquals("stopped", ended.getEndReason(), s.getCassette());
      }
      assertEquals(4, upstream.calls());
      firstBodies = Map.copyOf(BODIES);
      for (String b : firstBodies.values()) {
        assertTrue(b.startsWith("200 call "), b);
      }
      SESSIONS.clear();
      BODIES.clear();

      EngineExecutionResults second = run(Fixture.class);
      assertEquals(0, second.testEvents().failed().count(), failures(second));
      assertEquals(dev.matgto.v1.Mode.REPLAY,
          SESSIONS.get(P + "plain").getMode(), "AUTO replays the second time");
      assertEquals(dev.matgto.v1.Mode.REPLAY,
          SESSIONS.get(P + "param[2]").getMode());
      assertEquals(dev.matgto.v1.Mode.RECORD, SESSIONS.get("ext/explicit").getMode());
      assertEquals(firstBodies.get(P + "plain"),
          BODIES.get(P + "plain"));
      assertEquals(firstBodies.get(P + "param[1]"),
          BODIES.get(P + "param[1]"));
      assertNotEquals(firstBodies.get("ext/explicit"), BODIES.get("ext/explicit"),
          "mode RECORD reached the upstream again");
      assertEquals(5, upstream.calls(), "only the RECORD test reached the upstream");
    }
  }

  @Test
  void classValueIsAFolder() {
    EngineExecutionResults r = run(FolderFixture.class);
    assertEquals(1, r.testEvents().succeeded().count(), failures(r));
    assertNotNull(SESSIONS.get("ext/folder/one"), SESSIONS.keySet().toString());
  }

  @Test
  void replayMissFailsTheTestUnlessTolerated() throws Exception {
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      client.startRecording("ext/miss");
      fetch(HttpClient.newBuilder().proxy(client.proxySelector()).build(), "/text/in-cassette");
      client.stopRecording(); // one interaction, not the one the tests ask for
    }
    EngineExecutionResults r = run(MissFixture.class);
    assertEquals(1, r.testEvents().succeeded().count(), failures(r));
    assertEquals(1, r.testEvents().failed().count(), failures(r));
    String failure = failures(r);
    assertTrue(failure.startsWith("missing("), failure);
    assertTrue(failure.contains("AssertionError"), failure);
    assertTrue(failure.contains("could not answer 1 request"), failure);
    assertTrue(failure.contains("GET " + upstreamBase.resolve("/text/not-in-cassette")
        + " (no-match)"), failure);
    assertTrue(failure.contains("closest #0: GET " + upstreamBase.resolve("/text/in-cassette")),
        "the closest recorded request: " + failure);
    assertTrue(failure.contains("path: recorded '/text/in-cassette', live '/text/not-in-cassette'"),
        "the differing field: " + failure);
    assertTrue(BODIES.get("miss").startsWith("599 "), BODIES.get("miss"));
    assertTrue(BODIES.get("tolerated").startsWith("599 "), BODIES.get("tolerated"));

    // failOnMiss = false: the test passed, with the explanation as a warning.
    List<String> warnings = r.allEvents().reportingEntryPublished().stream()
        .map(e -> e.getPayload(org.junit.platform.engine.reporting.ReportEntry.class)
            .orElseThrow().getKeyValuePairs().get(MatgtoExtension.MISSES_REPORT_KEY))
        .filter(java.util.Objects::nonNull)
        .collect(Collectors.toList());
    assertEquals(1, warnings.size(), warnings.toString());
    assertTrue(warnings.get(0).contains("/text/not-in-cassette (no-match)"), warnings.get(0));
    assertTrue(warnings.get(0).contains("closest #0"), warnings.get(0));
  }

  @Test
  void anExhaustedAnswerFailsTheTest() throws Exception {
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      client.startRecording("ext/exhausted");
      fetch(HttpClient.newBuilder().proxy(client.proxySelector()).build(), "/text/once");
      client.stopRecording();
    }
    EngineExecutionResults r = run(ExhaustedFixture.class);
    assertEquals(1, r.testEvents().failed().count(), failures(r));
    String failure = failures(r);
    assertTrue(failure.contains("could not answer 1 request"), failure);
    assertTrue(failure.contains("GET " + upstreamBase.resolve("/text/once") + " (exhausted)"),
        failure);
    assertTrue(BODIES.get("first").startsWith("200 "), BODIES.get("first"));
    assertTrue(BODIES.get("second").startsWith("599 "), BODIES.get("second"));
  }

  @Test
  void newSessionFalseUsesTheDefaultSession() {
    EngineExecutionResults r = run(DefaultSessionFixture.class);
    assertEquals(1, r.testEvents().succeeded().count(), failures(r));
    SessionInfo s = SESSIONS.get("ext/default-session");
    assertEquals("default", s.getId());
    assertEquals("ext/default-session", LISTED.get("ext/default-session").getCassette(),
        "the default session had the cassette during the test");
    assertEquals(server.proxyAddress(), PROXIES.get("ext/default-session"), "the shared proxy port");
    assertFalse(client.status().hasSession(), "stopped after the test");
  }

  @Test
  void renewalKeepsALongTestsSessionAndALostSessionFailsTheTest() throws Exception {
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      EngineExecutionResults r = run(LeaseFixture.class);
      assertEquals(1, r.testEvents().succeeded().count(), failures(r));
      assertTrue(BODIES.get("long").startsWith("200 "), BODIES.get("long"));
      assertTrue(Long.parseLong(BODIES.get("long renewals")) >= 5, BODIES.get("long renewals"));
      assertEquals("true", BODIES.get("lost"));
      assertEquals(1, r.testEvents().failed().count(), failures(r));
      String failure = failures(r);
      assertTrue(failure.startsWith("losesItsSession("), failure);
      assertTrue(failure.contains("SessionLostException"), failure);
      assertTrue(failure.contains("cassette 'ext/lost'") && failure.contains("was lost"), failure);
    }
  }

  @Test
  void replayOfAMissingCassetteFailsBeforeTheTest() {
    EngineExecutionResults r = run(UnknownReplayFixture.class);
    assertEquals(1, r.testEvents().failed().count(), failures(r));
    assertTrue(failures(r).contains("CassetteNotFoundException"), failures(r));
    assertFalse(BODIES.containsKey("ran"), "the test body did not run");
  }
}
