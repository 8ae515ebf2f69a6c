package dev.matgto.client;

import dev.matgto.client.junit.MatgtoLocalServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

/**
 * One real server per test class, started by the extension ({@link MatgtoLocalServer}: the public
 * launcher); no cassette stays in use between tests.
 */
@MatgtoLocalServer
abstract class ServerTestBase {
  static LocalServer server;
  static MatgtoClient client;
  static HttpClient http;

  @BeforeAll
  static void startServer(LocalServer started, MatgtoClient connected) {
    server = started;
    client = connected; // owned by the extension: closed with the server after the class
    // Built from the ready file, independently of the client's own helpers.
    http =
        HttpClient.newBuilder()
            .proxy(ProxySelector.of(hostPort(server.proxyAddress())))
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
  }

  @AfterAll
  static void forgetServer() {
    server = null;
    client = null;
    http = null;
  }

  @AfterEach
  void endCassette() {
    try {
      client.stopRecording();
    } catch (FailedPreconditionException idle) {
      // nothing in use
    }
  }

  static InetSocketAddress hostPort(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    return new InetSocketAddress(
        hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
  }

  static HttpResponse<byte[]> get(URI uri) throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).GET().build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }
}
