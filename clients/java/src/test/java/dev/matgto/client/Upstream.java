package dev.matgto.client;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real HTTP upstream on 127.0.0.1. Every answer differs from the previous ones, so a body seen
 * again after the upstream is gone proves it came from the cassette.
 */
public final class Upstream implements AutoCloseable {
  private final HttpServer server;
  private final AtomicInteger calls = new AtomicInteger();
  private final List<String> queries = new CopyOnWriteArrayList<>();
  private final SecureRandom random = new SecureRandom();

  public Upstream() throws IOException {
    server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      ex.getRequestBody().readAllBytes();
      queries.add(String.valueOf(ex.getRequestURI().getRawQuery()));
      int n = calls.incrementAndGet();
      String path = ex.getRequestURI().getPath();
      byte[] body;
      if (path.startsWith("/binary")) {
        // Every byte value once (in a random order), then random bytes.
        body = new byte[256 + 1024];
        for (int i = 0; i < 256; i++) {
          body[i] = (byte) i;
        }
        for (int i = 255; i > 0; i--) {
          int j = random.nextInt(i + 1);
          byte t = body[i];
          body[i] = body[j];
          body[j] = t;
        }
        byte[] tail = new byte[1024];
        random.nextBytes(tail);
        System.arraycopy(tail, 0, body, 256, tail.length);
        ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
      } else if (path.startsWith("/quiet")) {
        // Does not echo the request (whose query may hold a secret).
        body = ("call " + n + " quiet " + UUID.randomUUID() + "\n").getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "text/plain; charset=utf-8");
      } else {
        body =
            ("call " + n + " " + ex.getRequestMethod() + " " + ex.getRequestURI() + " "
                    + UUID.randomUUID() + "\n")
                .getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "text/plain; charset=utf-8");
      }
      ex.getResponseHeaders().add("X-Call", Integer.toString(n));
      ex.sendResponseHeaders(path.startsWith("/created") ? 201 : 200, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }

  /** http://127.0.0.1:PORT + path */
  public URI uri(String path) {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
  }

  /** The raw query of every request, in order. */
  public List<String> queries() {
    return List.copyOf(queries);
  }

  public int calls() {
    return calls.get();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
