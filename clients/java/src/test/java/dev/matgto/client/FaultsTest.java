package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Fault rules and replay latency (CONTRACT.md, "Latency and faults (issue 16)") against the real
 * server, seen by a real HTTP client ({@link java.net.http.HttpClient}).
 */
class FaultsTest extends ServerTestBase {

  /** A failed test must not leave sessions or default-session rules behind. */
  @AfterEach
  void cleanUp() {
    for (SessionInfo s : client.status().getSessionsList()) {
      if (!SessionInfos.isDefault(s)) {
        try {
          client.stop(s.getId());
        } catch (SessionNotFoundException gone) {
          // ended meanwhile
        }
      }
    }
    client.clearFaults("default");
  }

  static HttpClient through(Session s) {
    return HttpClient.newBuilder()
        .proxy(s.proxySelector())
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5))
        .build();
  }

  static HttpResponse<String> send(HttpClient http, URI uri) throws Exception {
    return send(http, uri, Duration.ofSeconds(20));
  }

  static HttpResponse<String> send(HttpClient http, URI uri, Duration timeout) throws Exception {
    return http.send(HttpRequest.newBuilder(uri).timeout(timeout).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static long millis(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  // ------------------------------------------------------------------ faults

  @Test
  void twoInjected503sThenARetryReachesTheRealAnswer() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("faults/retry").mode(Mode.RECORD).open()) {
      Faults set = s.addFaults(
          Fault.status(503).header("Retry-After", "1").body("try later").firstN(2)
              .url("/orders/.*"));
      assertEquals(1, set.rules().size());
      Fault rule = set.rules().get(0);
      assertTrue(rule.id().matches("f[0-9]+"), "the server gives the rule an id: " + rule.id());
      assertEquals(Fault.Kind.STATUS, rule.kind());

      HttpClient http = through(s);
      // A rule limited to /orders/ leaves other URLs alone.
      assertEquals(200, send(http, upstream.uri("/text/other")).statusCode());
      assertEquals(1, upstream.calls());

      // A client that retries on 503, honouring Retry-After, as urllib3's Retry does.
      List<Integer> statuses = new ArrayList<>();
      List<String> retryAfter = new ArrayList<>();
      HttpResponse<String> r;
      int attempts = 0;
      do {
        r = send(http, upstream.uri("/orders/42"));
        statuses.add(r.statusCode());
        if (r.statusCode() == 503) {
          retryAfter.add(r.headers().firstValue("Retry-After").orElse("none"));
          assertEquals("try later", r.body());
          Thread.sleep(1000L * Long.parseLong(r.headers().firstValue("Retry-After").orElse("0")));
        }
      } while (r.statusCode() == 503 && ++attempts < 5);

      assertEquals(List.of(503, 503, 200), statuses);
      assertEquals(List.of("1", "1"), retryAfter);
      assertTrue(r.body().contains("GET /orders/42"), "the real answer: " + r.body());
      assertEquals(2, upstream.calls(), "the injected answers reached no upstream");

      Fault applied = s.faults().get(0);
      assertEquals(rule.id(), applied.id());
      assertEquals(2, applied.applied(), "GetStatus counts the hits");

      SessionSummary summary = s.stop();
      assertEquals(2, summary.getSession().getRecorded(),
          "injected answers are never recorded as if the upstream had sent them");
    }
  }

  @Test
  void faultsApplyInReplayWithoutUsingUpTheCassette() throws Exception {
    try (Upstream upstream = new Upstream()) {
      URI uri = upstream.uri("/orders/7");
      String recorded = record("faults/replayed", uri);
      try (Session s = client.session("faults/replayed").mode(Mode.REPLAY).open()) {
        s.addFaults(Fault.status(503).firstN(1));
        HttpClient http = through(s);
        assertEquals(503, send(http, uri).statusCode());
        HttpResponse<String> r = send(http, uri);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(recorded, r.body(), "the one recorded answer was still there");
        SessionSummary summary = s.stop();
        assertEquals(1, summary.getSession().getReplayed());
        assertEquals(0, summary.getSession().getMissed(), "an injected answer is not a miss");
      }
      assertEquals(1, upstream.calls(), "only the recording reached the upstream");
    }
  }

  @Test
  void aResetIsAnIOExceptionForTheClientAtEachPoint() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("faults/reset").mode(Mode.PASSTHROUGH).open()) {
      HttpClient http = through(s);
      for (Reset when : Reset.values()) {
        Fault rule = s.addFault(Fault.reset(when).url("/reset/"));
        assertEquals(Fault.Kind.RESET, rule.kind());
        URI uri = upstream.uri("/reset/" + when);
        IOException e = assertThrows(IOException.class, () -> send(http, uri), when.toString());
        assertFalse(e instanceof HttpTimeoutException, when + ": a reset, not a timeout: " + e);
        s.clearFaults(rule.id());
        assertEquals(200, send(http, uri).statusCode(), when + ": cleared, the URL works again");
      }
    }
  }

  @Test
  void aHangIsAClientTimeout() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("faults/hang").mode(Mode.PASSTHROUGH).open()) {
      s.addFaults(Fault.hang().method("GET"));
      HttpClient http = through(s);
      long start = System.nanoTime();
      assertThrows(HttpTimeoutException.class,
          () -> send(http, upstream.uri("/text/hang"), Duration.ofMillis(1500)));
      long waited = millis(start);
      assertTrue(waited >= 1400 && waited < 10_000, "gave up after its own timeout: " + waited);
      assertEquals(0, upstream.calls(), "a hung request is not forwarded");

      assertEquals(List.of(), s.clearFaults());
      assertEquals(200, send(http, upstream.uri("/text/after")).statusCode(),
          "clearing every rule restores the session");
      assertEquals(List.of(), s.faults());
    }
  }

  @Test
  void aDelayFaultWaitsBeforeTheAnswer() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("faults/delay").mode(Mode.PASSTHROUGH).open()) {
      HttpClient http = through(s);
      send(http, upstream.uri("/text/warm"));
      long start = System.nanoTime();
      send(http, upstream.uri("/text/quick"));
      long quick = millis(start);

      s.addFaults(Fault.delay(Duration.ofMillis(700)));
      start = System.nanoTime();
      HttpResponse<String> slow = send(http, upstream.uri("/text/slow"));
      long slowMillis = millis(start);
      assertEquals(200, slow.statusCode());
      assertTrue(slowMillis >= 690, "delayed by 700 ms: " + slowMillis + " ms");
      assertTrue(slowMillis - quick >= 500,
          "slower than without the rule: " + slowMillis + " vs " + quick + " ms");
    }
  }

  @Test
  void everyNthHitsTheNthRequests() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("faults/nth").mode(Mode.PASSTHROUGH).open()) {
      s.addFaults(Fault.status(502).everyNth(3));
      HttpClient http = through(s);
      List<Integer> statuses = new ArrayList<>();
      for (int i = 0; i < 7; i++) {
        statuses.add(send(http, upstream.uri("/text/n" + i)).statusCode());
      }
      assertEquals(List.of(200, 200, 502, 200, 200, 502, 200), statuses);
      assertEquals(2, s.faults().get(0).applied());
    }
  }

  @Test
  void theSeedMakesProbabilisticFaultsRepeatable() throws Exception {
    try (Upstream upstream = new Upstream()) {
      List<List<Integer>> runs = new ArrayList<>();
      for (long seed : new long[] {7, 7, 8}) {
        try (Session s = client.session("faults/seed-" + runs.size()).mode(Mode.PASSTHROUGH)
            .open()) {
          Faults set = s.addFaults(seed, Fault.status(500).probability(0.5));
          assertEquals(seed, set.seed());
          assertEquals(seed, s.faultSeed(), "GetStatus reports the seed");
          assertEquals(seed, SessionInfos.faultSeed(s.status().orElseThrow()));
          HttpClient http = through(s);
          List<Integer> statuses = new ArrayList<>();
          for (int i = 0; i < 24; i++) {
            statuses.add(send(http, upstream.uri("/text/p" + i)).statusCode());
          }
          long hits = statuses.stream().filter(c -> c == 500).count();
          assertEquals(hits, s.faults().get(0).applied(), "applied counts every hit");
          runs.add(statuses);
        }
      }
      assertEquals(runs.get(0), runs.get(1), "the same seed gives the same sequence");
      long hits = runs.get(0).stream().filter(c -> c == 500).count();
      assertTrue(hits > 0 && hits < 24, "probability 0.5 hits some, not all: " + runs.get(0));
      assertFalse(runs.get(0).equals(runs.get(2)),
          "another seed, another sequence (1 chance in 2^24 to be equal): " + runs);
    }
  }

  @Test
  void aSessionHasASeedBeforeAnyIsSet() {
    try (Session s = client.session("faults/default-seed").mode(Mode.PASSTHROUGH).open()) {
      Faults none = s.addFaults();
      assertEquals(List.of(), none.rules());
      assertEquals(none.seed(), s.faultSeed());
      assertEquals(1234, s.seedFaults(1234).seed());
      assertEquals(1234, s.faultSeed());
    }
  }

  @Test
  void clearingSomeRulesKeepsTheOthersAndUnknownIdsAreNotFound() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("faults/clear").mode(Mode.PASSTHROUGH).open()) {
      Faults set = s.addFaults(Fault.status(500).url("/a/"), Fault.status(501).url("/b/"),
          Fault.status(502).url("/c/"));
      assertEquals(3, set.ids().size());
      assertEquals(3, set.ids().stream().distinct().count(), "distinct ids: " + set.ids());
      List<Fault> left = s.clearFaults(set.ids().get(1));
      assertEquals(List.of(set.ids().get(0), set.ids().get(2)),
          left.stream().map(Fault::id).toList());
      HttpClient http = through(s);
      assertEquals(500, send(http, upstream.uri("/a/")).statusCode());
      assertEquals(200, send(http, upstream.uri("/b/")).statusCode());
      assertEquals(502, send(http, upstream.uri("/c/")).statusCode());

      FaultNotFoundException e =
          assertThrows(FaultNotFoundException.class, () -> s.clearFaults(set.ids().get(1)));
      assertEquals(s.id(), e.getSessionId());
      assertEquals(2, s.faults().size(), "a refused ClearFaults removes nothing");

      SessionNotFoundException gone = assertThrows(SessionNotFoundException.class,
          () -> client.setFaults("s-00000000deadbeef", Fault.hang()));
      assertEquals("s-00000000deadbeef", gone.getSessionId());
      assertThrows(SessionNotFoundException.class,
          () -> client.clearFaults("s-00000000deadbeef"));
    }
  }

  @Test
  void webSocketRulesAreStoredWithTheirFieldsAndLeavePlainHttpAlone() throws Exception {
    try (Upstream upstream = new Upstream();
        Session s = client.session("faults/websocket").mode(Mode.PASSTHROUGH).open()) {
      Faults set = s.addFaults(
          Fault.webSocket().dropAfterMessages(2).delayMessages(Duration.ofMillis(300))
              .url("/ws/.*").firstN(1),
          Fault.dropWebSocketAfter(5),
          Fault.delayWebSocketMessages(Duration.ofSeconds(1)).method("GET"));
      assertEquals(3, set.rules().size());

      List<Fault> listed = s.faults();
      assertEquals(set.ids(), listed.stream().map(Fault::id).toList());
      Fault both = listed.get(0);
      assertFalse(both.id().isEmpty(), "the server gave it an id");
      assertEquals(Fault.Kind.WEBSOCKET, both.kind());
      assertEquals(2, both.dropAfterMessages());
      assertEquals(Duration.ofMillis(300), both.messageDelay());
      assertEquals("/ws/.*", both.url());
      assertEquals(dev.matgto.v1.Fault.SelectorCase.FIRST_N, both.toProto().getSelectorCase());
      assertEquals(1, both.toProto().getFirstN());
      assertEquals(Fault.Kind.WEBSOCKET, listed.get(1).kind());
      assertEquals(5, listed.get(1).dropAfterMessages());
      assertEquals(Duration.ZERO, listed.get(1).messageDelay());
      assertEquals(0, listed.get(2).dropAfterMessages());
      assertEquals(Duration.ofSeconds(1), listed.get(2).messageDelay());
      assertEquals("GET", listed.get(2).method());
      SessionInfo live = client.status().getSessionsList().stream()
          .filter(i -> i.getId().equals(s.id())).findFirst().orElseThrow();
      assertEquals(listed, SessionInfos.faults(live), "the same in GetStatus's SessionInfo");

      // WebSocket rules never apply to plain HTTP requests.
      HttpResponse<String> r = send(through(s), upstream.uri("/ws/plain"));
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(1, upstream.calls());
      for (Fault f : s.faults()) {
        assertEquals(0, f.applied(), f.toString());
      }

      assertEquals(2, s.clearFaults(both.id()).size());
    }
  }

  @Test
  void badRulesAreInvalidArgument() {
    try (Session s = client.session("faults/bad").mode(Mode.PASSTHROUGH).open()) {
      InvalidArgumentException re2 =
          assertThrows(InvalidArgumentException.class, () -> s.addFaults(Fault.hang().url("(")));
      assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, re2.getCode());
      assertFalse(re2.getServerMessage().isEmpty(), "the server says why");
      // What the builder refuses, sent raw through the escape hatch: the server refuses it too.
      assertThrows(InvalidArgumentException.class, () -> s.addFaults(Fault.of(
          dev.matgto.v1.Fault.newBuilder().setMethod("GET").build())), "no action");
      assertThrows(InvalidArgumentException.class, () -> s.addFaults(Fault.of(
          Fault.hang().toProto().toBuilder().setProbability(1.5).build())), "probability 1.5");
      assertThrows(InvalidArgumentException.class, () -> s.addFaults(Fault.of(
          dev.matgto.v1.Fault.newBuilder().setStatus(
              dev.matgto.v1.StatusFault.newBuilder().setCode(42)).build())), "status 42");
      assertThrows(InvalidArgumentException.class,
          () -> s.addFaults(Fault.status(503), Fault.hang().url("[")),
          "one bad rule refuses the call");
      assertEquals(List.of(), s.faults(), "nothing was added by refused calls");
    }
  }

  @Test
  void aBandwidthLimitSlowsTheBody() throws Exception {
    byte[] big = new byte[256 * 1024];
    Arrays.fill(big, (byte) 'x');
    HttpServer origin = HttpServer.create(
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    origin.createContext("/big", ex -> {
      try (ex) {
        ex.sendResponseHeaders(200, big.length);
        try (OutputStream out = ex.getResponseBody()) {
          out.write(big);
        }
      }
    });
    origin.start();
    try (Session s = client.session("faults/bandwidth").mode(Mode.PASSTHROUGH).open()) {
      s.addFaults(Fault.bandwidth(128 * 1024));
      URI uri = URI.create("http://127.0.0.1:" + origin.getAddress().getPort() + "/big");
      long start = System.nanoTime();
      HttpResponse<byte[]> r = through(s).send(
          HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofByteArray());
      long took = millis(start);
      assertEquals(200, r.statusCode());
      assertEquals(big.length, r.body().length);
      // 256 KiB at 128 KiB/s: about 2 s (a test of the mechanism, not a benchmark).
      assertTrue(took >= 1500 && took < 8000, "256 KiB at 128 KiB/s took " + took + " ms");
    } finally {
      origin.stop(0);
    }
  }

  @Test
  void theDefaultSessionTakesRulesToo() throws Exception {
    try (Upstream upstream = new Upstream()) {
      client.useCassette("faults/default", Mode.RECORD);
      Faults set = client.setFaults("default", 99, Fault.status(418).firstN(1));
      assertEquals(99, set.seed());
      assertEquals(418, get(upstream.uri("/text/teapot")).statusCode());
      assertEquals(200, get(upstream.uri("/text/teapot")).statusCode());
      List<Fault> listed = client.faults("default");
      assertEquals(1, listed.size());
      assertEquals(1, listed.get(0).applied());
      assertEquals(99, client.faultSeed("default"));
      client.stopRecording();

      // Without a cassette the default session is absent from GetStatus; its rules are not.
      assertFalse(client.status().hasSession());
      Fault kept = client.faults("default").get(0);
      assertEquals(listed.get(0).id(), kept.id(), "rules outlive the default session's cassette");
      assertEquals(99, client.faultSeed("default"));
      assertEquals(List.of(), client.clearFaults("default"));
      assertEquals(List.of(), client.faults("default"));
    }
  }

  // ------------------------------------------------------------------ latency

  /** Records one GET of {@code uri} into cassette {@code name}; returns the body. */
  static String record(String name, URI uri) throws Exception {
    return record(name, uri, CassetteOptions.none());
  }

  /** Records one GET of {@code uri} into cassette {@code name} with {@code options}. */
  static String record(String name, URI uri, CassetteOptions options) throws Exception {
    try (Session rec = client.session(name).mode(Mode.RECORD).options(options).open()) {
      HttpResponse<String> r = send(through(rec), uri);
      assertEquals(200, r.statusCode(), r.body());
      return r.body();
    }
  }

  /** Replays {@code name} in a new session with {@code options}; the time of a warm request. */
  static long timeReplay(String name, URI uri, CassetteOptions options, String expectedBody)
      throws Exception {
    try (Session s = client.session(name).mode(Mode.REPLAY).options(options).open()) {
      HttpClient http = through(s);
      send(http, uri); // the connection is warm for the measured request
      long start = System.nanoTime();
      HttpResponse<String> r = send(http, uri);
      long took = millis(start);
      assertEquals(expectedBody, r.body(), "still the recorded answer");
      return took;
    }
  }

  static final CassetteOptions REUSE =
      CassetteOptions.builder().repeat(RepeatPolicy.REUSE).build();

  static CassetteOptions reuseWith(Latency latency) {
    return REUSE.toBuilder().latency(latency).build();
  }

  @Test
  void aLatencyStoredWithTheCassetteSlowsItsReplay() throws Exception {
    try (Upstream upstream = new Upstream()) {
      URI uri = upstream.uri("/text/stored-latency");
      long start = System.nanoTime();
      String recorded =
          record("latency/stored", uri, reuseWith(Latency.fixed(Duration.ofMillis(300))));
      assertTrue(millis(start) < 5000, "recording is not slowed");
      assertEquals(Latency.fixed(Duration.ofMillis(300)).toProto(),
          client.getCassette("latency/stored").getOptions().getLatency(), "stored");

      try (Session s = client.session("latency/stored").mode(Mode.REPLAY).open()) {
        assertEquals(Latency.fixed(Duration.ofMillis(300)), SessionInfos.latency(s.info()),
            "the session reports the stored latency");
      }
      long slow = timeReplay("latency/stored", uri, CassetteOptions.none(), recorded);
      assertTrue(slow >= 290 && slow < 3000, "300 ms stored latency, measured " + slow + " ms");
      long fast = timeReplay("latency/stored", uri,
          CassetteOptions.builder().latency(Latency.fast()).build(), recorded);
      assertTrue(slow - fast >= 200,
          "Latency.fast() on replay overrides the stored latency: " + fast + " ms");

      // Jitter: each answer within 200 ms ± 100 ms (plus scheduling slack above).
      URI jittered = upstream.uri("/text/jittered");
      record("latency/jitter", jittered, reuseWith(Latency.parse("200ms±100ms")));
      try (Session s = client.session("latency/jitter").mode(Mode.REPLAY).open()) {
        HttpClient http = through(s);
        send(http, jittered);
        for (int i = 0; i < 4; i++) {
          long begin = System.nanoTime();
          send(http, jittered);
          long took = millis(begin);
          assertTrue(took >= 95 && took < 2000, "200ms±100ms, measured " + took + " ms");
        }
      }
    }
  }

  /** CONTRACT.md: latency is "overridable per session by Replay/UseCassette options". */
  @Test
  void aFixedLatencyGivenOnReplaySlowsAReplayedRequest() throws Exception {
    try (Upstream upstream = new Upstream()) {
      URI uri = upstream.uri("/text/latency");
      String recorded = record("latency/fixed", uri);
      long fast = timeReplay("latency/fixed", uri, REUSE, recorded);

      CassetteOptions slowOpts = reuseWith(Latency.fixed(Duration.ofMillis(300)));
      try (Session s = client.session("latency/fixed").mode(Mode.REPLAY).options(slowOpts)
          .open()) {
        assertEquals(Latency.fixed(Duration.ofMillis(300)), SessionInfos.latency(s.info()),
            "the session reports the latency it replays with");
      }
      long slow = timeReplay("latency/fixed", uri, slowOpts, recorded);
      assertTrue(slow >= 290, "300 ms fixed latency, measured " + slow + " ms");
      assertTrue(slow < 3000, "not much more than 300 ms: " + slow + " ms");
      assertTrue(slow - fast >= 200, "slower than fast replay: " + slow + " vs " + fast + " ms");

    }
  }

  @Test
  void aSlowSessionDoesNotSlowAnother() throws Exception {
    try (Upstream upstream = new Upstream()) {
      URI slowUri = upstream.uri("/text/slow-one");
      URI quickUri = upstream.uri("/text/quick-one");
      record("latency/slow-one", slowUri, reuseWith(Latency.fixed(Duration.ofMillis(1500))));
      record("latency/quick-one", quickUri, REUSE);
      try (Session slow = client.session("latency/slow-one").mode(Mode.REPLAY).open();
          Session quick = client.session("latency/quick-one").mode(Mode.REPLAY).open()) {
        long start = System.nanoTime();
        CompletableFuture<HttpResponse<String>> pending = through(slow).sendAsync(
            HttpRequest.newBuilder(slowUri).timeout(Duration.ofSeconds(20)).build(),
            HttpResponse.BodyHandlers.ofString());
        Thread.sleep(100); // the slow request is waiting on the server now
        long quickStart = System.nanoTime();
        assertEquals(200, send(through(quick), quickUri).statusCode());
        long quickMillis = millis(quickStart);
        assertFalse(pending.isDone(), "the slow session is still waiting");
        assertTrue(quickMillis < 1000, "the other session answered at once: " + quickMillis);
        assertEquals(200, pending.get(20, TimeUnit.SECONDS).statusCode());
        assertTrue(millis(start) >= 1450, "the slow one waited: " + millis(start));
      }
    }
  }

  /** A cassette recorded against an upstream that takes 600 ms to answer. */
  static String recordSlowOrigin(String name, CassetteOptions options, URI[] uriOut)
      throws Exception {
    HttpServer slowOrigin = HttpServer.create(
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    slowOrigin.setExecutor(Executors.newCachedThreadPool());
    slowOrigin.createContext("/slow", ex -> {
      try (ex) {
        try {
          Thread.sleep(600);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        byte[] body = "slow answer".getBytes();
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
      }
    });
    slowOrigin.start();
    try {
      uriOut[0] = URI.create("http://127.0.0.1:" + slowOrigin.getAddress().getPort() + "/slow");
      return record(name, uriOut[0], options);
    } finally {
      slowOrigin.stop(0); // replay needs no upstream
    }
  }

  @Test
  void asRecordedLatencyReproducesTheRecordedTime() throws Exception {
    URI[] uri = new URI[1];
    String body = recordSlowOrigin("latency/as-recorded", reuseWith(Latency.asRecorded()), uri);
    long took = timeReplay("latency/as-recorded", uri[0], CassetteOptions.none(), body);
    assertTrue(took >= 550 && took < 3000, "as recorded (~600 ms): " + took + " ms");
  }

  /** CONTRACT.md: latency is "overridable per session by Replay/UseCassette options". */
  @Test
  void asRecordedLatencyGivenOnReplayIsScaled() throws Exception {
    URI[] uri = new URI[1];
    String body = recordSlowOrigin("latency/as-recorded-2", REUSE, uri);
    long fast = timeReplay("latency/as-recorded-2", uri[0], REUSE, body);
    long asRecorded =
        timeReplay("latency/as-recorded-2", uri[0], reuseWith(Latency.asRecorded()), body);
    long doubled =
        timeReplay("latency/as-recorded-2", uri[0], reuseWith(Latency.asRecorded(2)), body);
    assertTrue(fast < 400, "fast replay: " + fast + " ms");
    assertTrue(asRecorded >= 550 && asRecorded < 3000,
        "as recorded (~600 ms): " + asRecorded + " ms");
    assertTrue(doubled >= 1150 && doubled < 5000, "as recorded x2 (~1200 ms): " + doubled + " ms");
  }
}
