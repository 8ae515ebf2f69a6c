package dev.matgto.testcontainers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.Mode;
import dev.matgto.client.Session;
import dev.matgto.v1.SessionSummary;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.ContainerLaunchException;

/**
 * {@link MatgtoContainer} against a real container engine ({@code DOCKER_HOST}; {@code make
 * testcontainers-test} points it at {@code podman system service}) and a real upstream on the
 * host's loopback.
 */
class MatgtoContainerTest {
  private static final byte[] BODY = new byte[50_000];

  static {
    new Random(15).nextBytes(BODY);
  }

  private HttpServer upstream;
  private URI url;
  private final AtomicInteger hits = new AtomicInteger();

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    upstream.createContext(
        "/blob",
        ex -> {
          hits.incrementAndGet();
          ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
          ex.sendResponseHeaders(200, BODY.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(BODY);
          }
        });
    upstream.start();
    url = URI.create("http://127.0.0.1:" + upstream.getAddress().getPort() + "/blob");
  }

  @AfterEach
  void stopUpstream() {
    if (upstream != null) upstream.stop(0);
  }

  private static HttpResponse<byte[]> get(HttpClient http, URI uri) throws Exception {
    HttpRequest req = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).GET().build();
    return http.send(req, HttpResponse.BodyHandlers.ofByteArray());
  }

  private static List<String> cassettes(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> p.toString().endsWith(".pb"))
          .map(p -> dir.relativize(p).toString())
          .collect(Collectors.toList());
    }
  }

  @Test
  void recordsThenReplaysInANewContainerWithTheUpstreamGone(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("cassettes");
    try (MatgtoContainer m = new MatgtoContainer().withCassetteDir(dir)) {
      m.start();
      MatgtoClient client = m.client();
      SessionSummary summary;
      try (Session s = client.session("tc/java").mode(Mode.RECORD).open()) {
        HttpResponse<byte[]> live = get(s.httpClientBuilder().build(), url);
        assertEquals(200, live.statusCode());
        assertArrayEquals(BODY, live.body());
        summary = s.stop();
      }
      assertEquals(1, summary.getSession().getRecorded());
    }
    assertEquals(1, hits.get());
    assertEquals(List.of("tc/java.pb"), cassettes(dir));
    assertEquals(
        Files.getAttribute(dir, "unix:uid"),
        Files.getAttribute(dir.resolve("tc/java.pb"), "unix:uid"),
        "the cassette should belong to the directory's owner");

    upstream.stop(0);
    upstream = null;
    HttpClient direct = HttpClient.newBuilder().proxy(HttpClient.Builder.NO_PROXY).build();
    assertThrows(ConnectException.class, () -> get(direct, url));

    // A new container, the same host directory, read-only: replayed on the shared proxy port.
    try (MatgtoContainer m = new MatgtoContainer().withCassetteDir(dir, true, true)) {
      m.start();
      MatgtoClient client = m.client();
      client.replay("tc/java");
      HttpResponse<byte[]> again = get(HttpClient.newBuilder().proxy(m.proxySelector()).build(), url);
      assertEquals(200, again.statusCode());
      assertArrayEquals(BODY, again.body());
      assertEquals(1, client.stopRecording().getSession().getReplayed());
    }
    assertEquals(1, hits.get());
  }

  @Test
  void portsAddressesAndAdminEndpoints() throws Exception {
    try (MatgtoContainer m = new MatgtoContainer()) {
      m.start();
      assertEquals("http://127.0.0.1:" + m.getProxyPort(), m.getProxyUrl());
      assertEquals("127.0.0.1:" + m.getControlPort(), m.getControlAddress());
      assertNotEquals(m.getProxyPort(), m.getControlPort());
      assertNotEquals(m.getAdminPort(), m.getControlPort());
      HttpClient direct = HttpClient.newBuilder().proxy(HttpClient.Builder.NO_PROXY).build();
      assertEquals(200, get(direct, URI.create(m.getAdminUrl() + "/readyz")).statusCode());
      String metrics = new String(get(direct, URI.create(m.getAdminUrl() + "/metrics")).body());
      assertTrue(metrics.contains("matgto_"), metrics);
      // Without a cassette in use the proxy answers 503 and says why.
      HttpResponse<byte[]> r = get(HttpClient.newBuilder().proxy(m.proxySelector()).build(), url);
      assertEquals(503, r.statusCode());
      assertTrue(r.headers().firstValue("X-Matgto-Error").isPresent());
      var info = m.getContainerInfo();
      assertEquals("host", info.getHostConfig().getNetworkMode());
      assertEquals("true", info.getConfig().getLabels().get(MatgtoContainer.LABEL));
      assertTrue(m.client().caCertificatePem().startsWith("-----BEGIN CERTIFICATE-----"));
    }
    assertEquals(0, hits.get());
  }

  @Test
  void serverFlagsFromTheTest(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("c");
    try (MatgtoContainer m = new MatgtoContainer().withCassetteDir(dir)) {
      m.start();
      MatgtoClient client = m.client();
      client.startRecording("boot");
      get(HttpClient.newBuilder().proxy(m.proxySelector()).build(), url);
      client.stopRecording();
    }
    upstream.stop(0);
    upstream = null;
    // Cassette in use from the start, replay mode: no control call needed.
    try (MatgtoContainer m =
        new MatgtoContainer().withCassetteDir(dir).withServerArgs("--mode", "replay", "--cassette", "boot")) {
      m.start();
      HttpResponse<byte[]> r = get(HttpClient.newBuilder().proxy(m.proxySelector()).build(), url);
      assertEquals(200, r.statusCode());
      assertArrayEquals(BODY, r.body());
    }
  }

  @Test
  void aServerThatCannotStartFailsStartWithItsLog() {
    try (MatgtoContainer m =
        new MatgtoContainer().withServerArgs("--no-such-flag").withReadyTimeout(Duration.ofSeconds(30))) {
      ContainerLaunchException e = assertThrows(ContainerLaunchException.class, m::start);
      StringBuilder all = new StringBuilder();
      for (Throwable t = e; t != null; t = t.getCause()) all.append(t.getMessage()).append('\n');
      assertTrue(all.toString().contains("no-such-flag"), all.toString());
    }
  }
}
