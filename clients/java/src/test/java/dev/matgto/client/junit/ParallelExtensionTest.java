package dev.matgto.client.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.matgto.client.MatgtoClient;
import dev.matgto.client.LocalServer;
import dev.matgto.client.Session;
import dev.matgto.client.Upstream;
import dev.matgto.v1.Cassette;
import dev.matgto.v1.SessionInfo;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;

/**
 * Ten @MatgtoCassette tests run concurrently (JUnit parallel execution) against one server: each
 * records through its own session, all ten sessions open at once, then replays with the upstream
 * gone; every cassette must hold exactly its own test's exchanges.
 */
class ParallelExtensionTest {
  static final int TESTS = 10; // 8 @Test methods + 2 parameterized invocations

  static LocalServer server;
  static MatgtoClient client;
  static volatile URI upstreamBase;
  static volatile CyclicBarrier allOpen;
  /** How many sessions GetStatus listed while every test was inside its body. */
  static volatile int listedWhileAllOpen;

  static final Map<String, SessionInfo> SESSIONS = new ConcurrentHashMap<>();
  static final Map<String, List<String>> BODIES = new ConcurrentHashMap<>();
  static final Set<String> THREADS = ConcurrentHashMap.newKeySet();

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

  /** The paths test {@code n} asks for: its own, so a cassette proves whose traffic it holds. */
  static List<String> paths(String n) {
    return List.of("/text/par/" + n + "/a", "/text/par/" + n + "/b?q=" + n, "/text/par/" + n + "/c");
  }

  static void work(String n, HttpClient http, Session session) throws Exception {
    THREADS.add(Thread.currentThread().getName());
    List<String> paths = paths(n);
    List<String> bodies = new ArrayList<>();
    for (int i = 0; i < paths.size(); i++) {
      if (i == 2) {
        // Every test's session is open at this point: the last request of each is sent while
        // all ten sessions exist and the others' traffic goes on.
        allOpen.await(60, TimeUnit.SECONDS);
      }
      HttpResponse<String> r = http.send(
          HttpRequest.newBuilder(upstreamBase.resolve(paths.get(i)))
              .timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      bodies.add(r.body());
    }
    SESSIONS.put(session.cassette(), session.info());
    BODIES.put(session.cassette(), bodies);
  }

  @MatgtoCassette
  @Execution(ExecutionMode.CONCURRENT)
  static class Concurrent {
    @Test
    void t0(HttpClient http, Session s) throws Exception {
      work("0", http, s);
    }

    @Test
    void t1(HttpClient http, Session s) throws Exception {
      work("1", http, s);
    }

    @Test
    void t2(HttpClient http, Session s) throws Exception {
      work("2", http, s);
    }

    @Test
    void t3(HttpClient http, Session s) throws Exception {
      work("3", http, s);
    }

    @Test
    void t4(HttpClient.Builder builder, Session s) throws Exception {
      work("4", builder.connectTimeout(Duration.ofSeconds(10)).build(), s);
    }

    @Test
    void t5(java.net.ProxySelector proxy, Session s) throws Exception {
      work("5", HttpClient.newBuilder().proxy(proxy).version(HttpClient.Version.HTTP_1_1).build(), s);
    }

    @Test
    void t6(HttpClient http, Session s) throws Exception {
      work("6", http, s);
    }

    @Test
    void t7(HttpClient http, Session s) throws Exception {
      work("7", http, s);
    }

    @ParameterizedTest
    @ValueSource(strings = {"p1", "p2"})
    void p(String n, HttpClient http, Session s) throws Exception {
      work(n, http, s);
    }
  }

  private EngineExecutionResults runConcurrently() {
    SESSIONS.clear();
    BODIES.clear();
    THREADS.clear();
    listedWhileAllOpen = -1;
    allOpen = new CyclicBarrier(TESTS, () -> listedWhileAllOpen = client.status().getSessionsCount());
    return EngineTestKit.engine("junit-jupiter")
        .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.controlAddress())
        .configurationParameter("junit.jupiter.execution.parallel.enabled", "true")
        .configurationParameter("junit.jupiter.execution.parallel.mode.default", "concurrent")
        .configurationParameter("junit.jupiter.execution.parallel.config.strategy", "fixed")
        .configurationParameter(
            "junit.jupiter.execution.parallel.config.fixed.parallelism", Integer.toString(TESTS))
        .selectors(selectClass(Concurrent.class))
        .execute();
  }

  private static String failures(EngineExecutionResults r) {
    return r.allEvents().failed().stream()
        .map(e -> e.getTestDescriptor().getDisplayName() + ": "
            + e.getPayload(org.junit.platform.engine.TestExecutionResult.class)
                .flatMap(org.junit.platform.engine.TestExecutionResult::getThrowable)
                .map(Throwable::toString).orElse("?"))
        .collect(Collectors.joining("\n"));
  }

  /** Cassette name -> the test's number, for the default names of {@link Concurrent}. */
  private static Map<String, String> expectedCassettes() {
    String folder = "dev.matgto.client.junit.ParallelExtensionTest.Concurrent/";
    Map<String, String> m = new TreeMap<>();
    for (int i = 0; i < 8; i++) {
      m.put(folder + "t" + i, Integer.toString(i));
    }
    m.put(folder + "p[1]", "p1");
    m.put(folder + "p[2]", "p2");
    return m;
  }

  @Test
  void concurrentTestsRecordAndReplayTheirOwnCassettes() throws Exception {
    Map<String, String> expected = expectedCassettes();
    Map<String, List<String>> recordedBodies;
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      EngineExecutionResults first = runConcurrently();
      assertEquals(TESTS, first.testEvents().succeeded().count(), failures(first));
      assertEquals(expected.keySet(), new TreeMap<>(SESSIONS).keySet());
      assertEquals(TESTS, listedWhileAllOpen, "all ten sessions were open at once");
      assertTrue(THREADS.size() >= TESTS, "ran on " + THREADS.size() + " threads: " + THREADS);
      assertEquals(TESTS, SESSIONS.values().stream().map(SessionInfo::getId).distinct().count());
      assertEquals(TESTS,
          SESSIONS.values().stream().map(SessionInfo::getProxyAddress).distinct().count(),
          "each session has its own proxy listener");
      for (SessionInfo s : SESSIONS.values()) {
        assertEquals(dev.matgto.v1.Mode.RECORD, s.getMode(), s.getCassette());
      }
      assertEquals(3 * TESTS, upstream.calls());
      recordedBodies = Map.copyOf(BODIES);
    }
    assertEquals(0, client.status().getSessionsCount(), "every session was stopped");

    for (Map.Entry<String, String> e : expected.entrySet()) {
      Cassette c = client.getCassette(e.getKey());
      List<String> urls = c.getInteractionsList().stream()
          .map(i -> i.getHttp().getRequest().getUrl()).collect(Collectors.toList());
      List<String> own = paths(e.getValue()).stream()
          .map(p -> upstreamBase.resolve(p).toString()).collect(Collectors.toList());
      assertEquals(own, urls, "cassette " + e.getKey() + " holds exactly its test's exchanges");
    }

    // The upstream is gone: AUTO now replays each cassette in its own session.
    EngineExecutionResults second = runConcurrently();
    assertEquals(TESTS, second.testEvents().succeeded().count(), failures(second));
    assertEquals(TESTS, listedWhileAllOpen);
    for (Map.Entry<String, String> e : expected.entrySet()) {
      assertEquals(dev.matgto.v1.Mode.REPLAY, SESSIONS.get(e.getKey()).getMode(), e.getKey());
      assertEquals(recordedBodies.get(e.getKey()), BODIES.get(e.getKey()),
          "replayed bodies of " + e.getKey());
    }
  }
}
