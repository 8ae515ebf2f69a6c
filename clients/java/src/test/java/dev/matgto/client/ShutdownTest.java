package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ShutdownTest {

  private static HttpClient through(MatgtoServer s) {
    return HttpClient.newBuilder()
        .proxy(ProxySelector.of(ServerTestBase.hostPort(s.proxy)))
        .version(HttpClient.Version.HTTP_1_1)
        .build();
  }

  @Test
  void shutdownExitsAndSavesTheActiveRecording() throws Exception {
    byte[] body;
    URI uri;
    MatgtoServer first = MatgtoServer.start();
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
          "server exits after Shutdown:\n" + first.logTail());
      assertEquals(0, first.process.exitValue(), "exit status after Shutdown:\n" + first.logTail());
    } finally {
      first.close();
    }

    try (MatgtoServer second = MatgtoServer.start(first.cassetteDir);
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
