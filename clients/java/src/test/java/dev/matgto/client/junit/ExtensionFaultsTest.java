package dev.matgto.client.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.matgto.client.Fault;
import dev.matgto.client.Faults;
import dev.matgto.client.Latency;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.LocalServer;
import dev.matgto.client.Mode;
import dev.matgto.client.Session;
import dev.matgto.client.SessionInfos;
import dev.matgto.client.Upstream;
import dev.matgto.v1.SessionInfo;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.platform.testkit.engine.EngineExecutionResults;

/** Faults and latency from a test that uses @MatgtoCassette, through the injected Session. */
class ExtensionFaultsTest {
  static LocalServer server;
  static MatgtoClient client;
  static final Map<String, String> SEEN = new ConcurrentHashMap<>();
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

  static int status(HttpClient http, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(upstreamBase.resolve(path))
            .timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofString()).statusCode();
  }

  static class FaultFixture {
    @Test
    @MatgtoCassette(value = "ext/faults", mode = Mode.RECORD)
    void injected(HttpClient http, Session session) throws Exception {
      Faults set = session.addFaults(42, Fault.status(503).firstN(1).url("/flaky"));
      StringBuilder codes = new StringBuilder();
      for (int i = 0; i < 3; i++) {
        codes.append(status(http, "/flaky")).append(' ');
      }
      SEEN.put("codes", codes.toString().trim());
      SEEN.put("seed", Long.toString(session.faultSeed()));
      SEEN.put("applied", Long.toString(session.faults().get(0).applied()));
      SEEN.put("id", set.rules().get(0).id());
    }
  }

  static class LatencyFixture {
    @Test
    @MatgtoCassette(value = "ext/latency", mode = Mode.RECORD, latency = "300ms")
    void records(HttpClient http, SessionInfo info) throws Exception {
      SEEN.put("recorded", Integer.toString(status(http, "/text/slowed")));
    }
  }

  static class LatencyReplayFixture {
    @Test
    @MatgtoCassette(value = "ext/latency", mode = Mode.REPLAY)
    void replays(HttpClient http, SessionInfo info) throws Exception {
      SEEN.put("latency", SessionInfos.latency(info).toString());
      long start = System.nanoTime();
      SEEN.put("replayed", Integer.toString(status(http, "/text/slowed")));
      SEEN.put("millis", Long.toString((System.nanoTime() - start) / 1_000_000));
    }
  }

  static class DefaultSessionFixture {
    @Test
    @MatgtoCassette(value = "ext/default-faults", mode = Mode.RECORD, newSession = false)
    void addsToTheDefaultSession(MatgtoClient matgto, HttpClient http) throws Exception {
      matgto.setFaults("default", Fault.status(418).url("/teapot"));
      SEEN.put("teapot", Integer.toString(status(http, "/teapot")));
    }
  }

  private static String failures(EngineExecutionResults r) {
    return r.allEvents().failed().stream()
        .map(e -> e.getTestDescriptor().getDisplayName() + ": "
            + e.getPayload(org.junit.platform.engine.TestExecutionResult.class)
                .flatMap(org.junit.platform.engine.TestExecutionResult::getThrowable)
                .map(Throwable::toString).orElse("?"))
        .collect(Collectors.joining("\n"));
  }

  private EngineExecutionResults run(Class<?> fixture) {
    return org.junit.platform.testkit.engine.EngineTestKit.engine("junit-jupiter")
        .configurationParameter(MatgtoExtension.SERVER_PARAMETER, server.controlAddress())
        .selectors(selectClass(fixture))
        .execute();
  }

  @Test
  void theInjectedSessionTakesFaultRules() throws Exception {
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      EngineExecutionResults r = run(FaultFixture.class);
      assertEquals(1, r.testEvents().succeeded().count(), failures(r));
      assertEquals("503 200 200", SEEN.get("codes"));
      assertEquals("42", SEEN.get("seed"));
      assertEquals("1", SEEN.get("applied"));
      assertTrue(!SEEN.get("id").isEmpty());
      assertEquals(2, upstream.calls(), "the injected 503 reached no upstream");
      assertEquals(2, client.getCassette("ext/faults").getInteractionsCount(),
          "only the real answers were recorded");
    }
  }

  @Test
  void rulesATestAddsToTheDefaultSessionGoWithIt() throws Exception {
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      Faults before = client.setFaults("default", Fault.delay(Duration.ofMillis(1)).url("/keep"));
      try {
        EngineExecutionResults r = run(DefaultSessionFixture.class);
        assertEquals(1, r.testEvents().succeeded().count(), failures(r));
        assertEquals("418", SEEN.get("teapot"));
        // SetFaults without rules changes nothing and answers every rule of the session.
        assertEquals(before.ids(), client.setFaults("default").ids(),
            "the test's rule is gone, the one set before it stays");
      } finally {
        client.clearFaults("default");
      }
    }
  }

  @Test
  void theLatencyAttributeIsStoredAndSlowsReplay() throws Exception {
    try (Upstream upstream = new Upstream()) {
      upstreamBase = upstream.uri("/");
      EngineExecutionResults rec = run(LatencyFixture.class);
      assertEquals(1, rec.testEvents().succeeded().count(), failures(rec));
      assertEquals("200", SEEN.get("recorded"));
      assertEquals(Latency.fixed(Duration.ofMillis(300)).toProto(),
          client.getCassette("ext/latency").getOptions().getLatency());

      EngineExecutionResults r = run(LatencyReplayFixture.class);
      assertEquals(1, r.testEvents().succeeded().count(), failures(r));
      assertEquals("200", SEEN.get("replayed"));
      assertEquals(Latency.fixed(Duration.ofMillis(300)).toString(), SEEN.get("latency"));
      long millis = Long.parseLong(SEEN.get("millis"));
      assertTrue(millis >= 290 && millis < 3000, "300 ms fixed latency: " + millis + " ms");
    }
  }
}
