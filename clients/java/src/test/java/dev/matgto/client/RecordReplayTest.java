package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.Miss;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RecordReplayTest extends ServerTestBase {

  @Test
  void recordThenReplayGivesByteIdenticalBodies() throws Exception {
    List<URI> uris = new ArrayList<>();
    List<HttpResponse<byte[]>> recorded = new ArrayList<>();
    try (Upstream upstream = new Upstream()) {
      uris.add(upstream.uri("/text?q=1"));
      uris.add(upstream.uri("/text?q=1")); // same request twice: two different answers
      uris.add(upstream.uri("/binary"));
      uris.add(upstream.uri("/created/item"));

      SessionInfo started = client.startRecording("rr/basic");
      assertEquals("rr/basic", started.getCassette());
      assertEquals(dev.matgto.v1.Mode.RECORD, started.getMode());

      for (URI uri : uris) {
        HttpResponse<byte[]> r = get(uri);
        assertTrue(r.statusCode() < 300, () -> "recording " + uri + " got " + r.statusCode());
        recorded.add(r);
      }
      assertEquals(uris.size(), upstream.calls(), "every request reached the upstream");
      assertFalse(
          new String(recorded.get(0).body(), StandardCharsets.UTF_8)
              .equals(new String(recorded.get(1).body(), StandardCharsets.UTF_8)),
          "the upstream varies its answers");

      SessionSummary summary = client.stopRecording();
      assertEquals("rr/basic", summary.getSession().getCassette());
      assertEquals(uris.size(), summary.getSession().getRecorded(), "recorded count");
      assertFalse(summary.getSavedPath().isEmpty(), "saved_path is set after a recording");
      assertTrue(Files.exists(Paths.get(summary.getSavedPath())), "saved_path exists");
    } // upstream stopped: only the cassette can answer now

    SessionInfo replaying = client.replay("rr/basic");
    assertEquals(dev.matgto.v1.Mode.REPLAY, replaying.getMode());
    assertEquals(uris.size(), replaying.getInteractions(), "interactions in the cassette");

    for (int i = 0; i < uris.size(); i++) {
      HttpResponse<byte[]> r = get(uris.get(i));
      HttpResponse<byte[]> expected = recorded.get(i);
      assertEquals(expected.statusCode(), r.statusCode(), "status of " + uris.get(i));
      assertArrayEquals(expected.body(), r.body(), "body of request " + i + " " + uris.get(i));
      assertEquals(
          expected.headers().firstValue("X-Call"),
          r.headers().firstValue("X-Call"),
          "recorded header of request " + i);
    }
    SessionSummary after = client.stopRecording();
    assertEquals(uris.size(), after.getSession().getReplayed(), "replayed count");
    assertEquals(0, after.getSession().getMissed(), "missed count");
  }

  @Test
  void replayMissAnswers599AndIsReported() throws Exception {
    URI recordedUri;
    URI otherUri;
    try (Upstream upstream = new Upstream()) {
      recordedUri = upstream.uri("/text/recorded");
      otherUri = upstream.uri("/text/never-recorded");
      client.startRecording("rr/miss");
      assertEquals(200, get(recordedUri).statusCode());
      client.stopRecording();
    }
    client.replay("rr/miss");
    HttpResponse<byte[]> miss = get(otherUri);
    assertEquals(599, miss.statusCode(), "replay miss status");
    assertEquals(
        "no-match",
        miss.headers().firstValue("X-Matgto-Error").orElse(""),
        "X-Matgto-Error on a replay miss");
    SessionSummary summary = client.stopRecording();
    assertEquals(1, summary.getSession().getMissed(), "missed count");
    assertEquals(1, summary.getSession().getMissesCount(), "misses listed");
    Miss m = summary.getSession().getMisses(0);
    assertEquals("GET", m.getMethod());
    assertTrue(m.getUrl().contains("/text/never-recorded"), () -> "miss url " + m.getUrl());
    assertEquals("no-match", m.getReason());
  }

  @Test
  void useCassetteAutoRecordsThenReplays() throws Exception {
    byte[] first;
    URI uri;
    try (Upstream upstream = new Upstream()) {
      uri = upstream.uri("/text/auto");
      SessionInfo s1 = client.useCassette("rr/auto", Mode.AUTO);
      assertEquals(dev.matgto.v1.Mode.RECORD, s1.getMode(), "AUTO on a new cassette records");
      assertEquals(dev.matgto.v1.Mode.AUTO, s1.getRequestedMode());
      first = get(uri).body();
      client.stopRecording();

      SessionInfo s2 = client.useCassette("rr/auto", Mode.AUTO);
      assertEquals(dev.matgto.v1.Mode.REPLAY, s2.getMode(), "AUTO on an existing cassette replays");
      assertArrayEquals(first, get(uri).body());
      assertEquals(1, upstream.calls(), "replay did not reach the upstream");
      client.stopRecording();

      SessionInfo s3 = client.useCassette("rr/auto", Mode.RECORD);
      assertEquals(dev.matgto.v1.Mode.RECORD, s3.getMode());
      byte[] rerecorded = get(uri).body();
      assertNotEquals(new String(first, StandardCharsets.UTF_8),
          new String(rerecorded, StandardCharsets.UTF_8), "RECORD reached the upstream again");
      assertEquals(2, upstream.calls());
    }
  }

  @Test
  void statusReportsServerAndSession() {
    GetStatusResponse idle = client.status();
    assertEquals(MatgtoClient.API_VERSION, idle.getApiVersion());
    assertTrue(idle.getVersion().matches("\\d+\\.\\d+\\.\\d+([-+].*)?"),
        () -> "semver version, got '" + idle.getVersion() + "'");
    assertEquals(server.proxyAddress(), idle.getProxyAddress(), "proxy_address matches the ready file");
    assertEquals(server.controlAddress(), idle.getControlAddress(), "control_address matches the ready file");
    assertFalse(idle.getCassetteDir().isEmpty(), "cassette_dir is set");
    assertFalse(idle.hasSession(), "no session while idle");

    client.startRecording("rr/status");
    GetStatusResponse busy = client.status();
    assertTrue(busy.hasSession());
    assertEquals("rr/status", busy.getSession().getCassette());
    assertEquals(dev.matgto.v1.Mode.RECORD, busy.getSession().getMode());
  }

  @Test
  void proxyWithoutCassetteAnswers503UnlessPassthrough() throws Exception {
    GetStatusResponse status = client.status();
    try (Upstream upstream = new Upstream()) {
      HttpResponse<byte[]> r = get(upstream.uri("/text/nocassette"));
      if (status.getDefaultMode() == dev.matgto.v1.Mode.PASSTHROUGH) {
        assertEquals(200, r.statusCode());
      } else {
        assertEquals(503, r.statusCode(), "no cassette in use");
        assertEquals("no-cassette", r.headers().firstValue("X-Matgto-Error").orElse(""));
        assertEquals(0, upstream.calls(), "nothing forwarded");
      }
    }
  }

  @Test
  void httpClientHelpersPointAtTheProxy() throws Exception {
    InetSocketAddress expected = hostPort(server.proxyAddress());
    assertEquals(expected, client.proxyAddress());
    List<Proxy> proxies = client.proxySelector().select(URI.create("http://example.test/"));
    assertEquals(1, proxies.size());
    assertEquals(expected, proxies.get(0).address());

    HttpClient built = client.httpClientBuilder().build();
    assertEquals(HttpClient.Version.HTTP_1_1, built.version());
    assertEquals(expected,
        built.proxy().orElseThrow().select(URI.create("http://x.test/")).get(0).address());

    try (Upstream upstream = new Upstream()) {
      client.startRecording("rr/builder");
      HttpResponse<String> r = built.send(
          java.net.http.HttpRequest.newBuilder(upstream.uri("/text/b")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode());
      assertEquals(1, client.stopRecording().getSession().getRecorded(), "went through the proxy");
    }
  }

}
