// A user's JUnit 5 test in a project outside the repository: one local server for the class,
// a session per test, a request recorded through it.
package example;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import dev.matgto.client.Mode;
import dev.matgto.client.Session;
import dev.matgto.client.junit.MatgtoCassette;
import dev.matgto.client.junit.MatgtoLocalServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

@MatgtoLocalServer
@MatgtoCassette(mode = Mode.RECORD)
class ConsumerTest {
  @Test
  void recordsThroughItsSession(HttpClient http, Session session) throws Exception {
    assertEquals("9", System.getProperty("https.proxyPort"), "the dead proxy is set");
    HttpServer up = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    up.createContext("/", ex -> {
      byte[] b = "hello".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    });
    up.start();
    try {
      URI uri = URI.create("http://127.0.0.1:" + up.getAddress().getPort() + "/x");
      HttpResponse<String> r =
          http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals("hello", r.body());
      assertEquals(1, session.status().orElseThrow().getRecorded());
    } finally {
      up.stop(0);
    }
  }
}
