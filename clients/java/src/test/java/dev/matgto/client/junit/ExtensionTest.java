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
import dev.matgto.client.FailedPreconditionException;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.MatgtoServer;
import dev.matgto.client.MissPolicy;
import dev.matgto.client.Mode;
import dev.matgto.client.RepeatPolicy;
import dev.matgto.client.Upstream;
import dev.matgto.v1.SessionInfo;
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
  static MatgtoServer server;
  static MatgtoClient client;

  /** What each fixture test saw, by cassette name. */
  static final Map<String, SessionInfo> SESSIONS = new ConcurrentHashMap<>();
  static final Map<String, String> BODIES = new ConcurrentHashMap<>();
  static volatile URI upstreamBase;

  @BeforeAll
  static void start() throws Exception {
    server = MatgtoServer.start();
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
    try {
      client.stopRecording();
    } catch (FailedPreconditionException idle) {
      // expected: the extension ended its cassettes
    }
  }

  private EngineExecutionResults run(Class<?> fixture) {
    return EngineTestKit.engine("junit-jupiter")
        .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.control)
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
    void plain(HttpClient http, SessionInfo session, MatgtoClient matgto) throws Exception {
      SESSIONS.put(session.getCassette(), session);
      assertEquals(session.getCassette(), matgto.status().getSession().getCassette());
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
  }

  // ------------------------------------------------------------------ tests

  @Test
  void annotationAttributesBecomeCassetteOptions() throws Exception {
    MatgtoCassette a =
        OptionsFixture.class.getDeclaredMethod("withOptions", HttpClient.class, SessionInfo.class)
            .getAnnotation(MatgtoCassette.class);
    dev.matgto.v1.CassetteOptions p = MatgtoExtension.options(a).toProto();
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
    assertEquals(CassetteOptions.none(), MatgtoExtension.options(plain));
    assertEquals(BodyMatch.DEFAULT, plain.matchBody());
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
              .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.control)
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
            .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.control)
            .selectors(selectMethod(
                OptionsFixture.class, "badRewrite"))
            .execute();
    assertEquals(1, r.testEvents().failed().count(), failures(r));
    assertTrue(failures(r).contains("InvalidArgumentException"), failures(r));
    assertFalse(BODIES.containsKey("bad ran"), "the test body did not run");
  }

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
              "ExtensionTest.Fixture.Inner/inner",
              "ExtensionTest.Fixture/param[1]",
              "ExtensionTest.Fixture/param[2]",
              "ExtensionTest.Fixture/plain",
              "ext/explicit"),
          List.copyOf(new TreeMap<>(SESSIONS).keySet()));
      for (SessionInfo s : SESSIONS.values()) {
        assertEquals(dev.matgto.v1.Mode.RECORD, s.getMode(), "first run records " + s.getCassette());
      }
      assertEquals(dev.matgto.v1.Mode.AUTO,
          SESSIONS.get("ExtensionTest.Fixture/plain").getRequestedMode());
      assertEquals(dev.matgto.v1.Mode.RECORD, SESSIONS.get("ext/explicit").getRequestedMode());
      assertFalse(client.status().hasSession(), "the extension stopped the cassette after the test");
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
          SESSIONS.get("ExtensionTest.Fixture/plain").getMode(), "AUTO replays the second time");
      assertEquals(dev.matgto.v1.Mode.REPLAY,
          SESSIONS.get("ExtensionTest.Fixture/param[2]").getMode());
      assertEquals(dev.matgto.v1.Mode.RECORD, SESSIONS.get("ext/explicit").getMode());
      assertEquals(firstBodies.get("ExtensionTest.Fixture/plain"),
          BODIES.get("ExtensionTest.Fixture/plain"));
      assertEquals(firstBodies.get("ExtensionTest.Fixture/param[1]"),
          BODIES.get("ExtensionTest.Fixture/param[1]"));
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
      client.stopRecording(); // an empty cassette
    }
    EngineExecutionResults r = run(MissFixture.class);
    assertEquals(1, r.testEvents().succeeded().count(), failures(r));
    assertEquals(1, r.testEvents().failed().count(), failures(r));
    String failure = failures(r);
    assertTrue(failure.startsWith("missing("), failure);
    assertTrue(failure.contains("could not answer 1 request"), failure);
    assertTrue(failure.contains("/text/not-in-cassette"), failure);
    assertTrue(BODIES.get("miss").startsWith("599 "), BODIES.get("miss"));
    assertTrue(BODIES.get("tolerated").startsWith("599 "), BODIES.get("tolerated"));
  }

  @Test
  void replayOfAMissingCassetteFailsBeforeTheTest() {
    EngineExecutionResults r = run(UnknownReplayFixture.class);
    assertEquals(1, r.testEvents().failed().count(), failures(r));
    assertTrue(failures(r).contains("CassetteNotFoundException"), failures(r));
    assertFalse(BODIES.containsKey("ran"), "the test body did not run");
  }
}
