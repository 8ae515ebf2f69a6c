package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShutdownTest {

  private static HttpClient through(LocalServer s) {
    return HttpClient.newBuilder()
        .proxy(ProxySelector.of(ServerTestBase.hostPort(s.proxyAddress())))
        .version(HttpClient.Version.HTTP_1_1)
        .build();
  }

  @Test
  void shutdownExitsAndSavesTheActiveRecording(@TempDir Path cassettes) throws Exception {
    byte[] body;
    URI uri;
    // A named folder: close() keeps it for the second server.
    LocalServer first = LocalServer.builder().cassetteDir(cassettes).start();
    try (Upstream upstream = new Upstream()) {
      uri = upstream.uri("/text/at-shutdown");
      try (MatgtoClient c = first.client()) {
        c.startRecording("shutdown/active");
        HttpResponse<byte[]> r =
            through(first).send(HttpRequest.newBuilder(uri).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, r.statusCode());
        body = r.body();
        c.shutdown(Duration.ofSeconds(2));
      }
      assertTrue(first.waitForExit(Duration.ofSeconds(15)),
          "server exits after Shutdown:\n" + first.output());
      assertEquals(0, first.process().exitValue(), "exit status after Shutdown:\n" + first.output());
    } finally {
      first.close();
    }

    try (LocalServer second = LocalServer.builder().cassetteDir(cassettes).start();
        MatgtoClient c = second.client()) {
      assertEquals(1, c.replay("shutdown/active").getInteractions(),
          "the recording active at shutdown was saved");
      HttpResponse<byte[]> r =
          through(second).send(HttpRequest.newBuilder(uri).build(),
              HttpResponse.BodyHandlers.ofByteArray());
      assertArrayEquals(body, r.body());
      c.stopRecording();
    }
  }
}
