package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS through the proxy (CONNECT, intercepted with the matgto CA) to an upstream whose
 * certificate comes from a throwaway CA that only {@code --upstream-ca-file} makes matgto trust.
 */
class HttpsTest {
  @TempDir Path dir;

  private static void keytool(String... args) throws Exception {
    String[] cmd = new String[args.length + 1];
    cmd[0] = Paths.get(System.getProperty("java.home"), "bin", "keytool").toString();
    System.arraycopy(args, 0, cmd, 1, args.length);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "keytool finished");
    assertEquals(0, p.exitValue(), () -> Arrays.toString(cmd) + "\n" + out);
  }

  /** Makes ca.pem and server.p12 (a 127.0.0.1 certificate signed by the CA, with its chain). */
  private void makeUpstreamPki() throws Exception {
    String ca = dir.resolve("ca.p12").toString();
    String server = dir.resolve("server.p12").toString();
    String pass = "changeit";
    keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=matgto Java client test upstream CA", "-ext", "bc:c", "-validity", "2",
        "-storetype", "PKCS12", "-keystore", ca, "-storepass", pass, "-keypass", pass);
    keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca, "-storepass", pass,
        "-file", dir.resolve("ca.pem").toString());
    keytool("-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=127.0.0.1", "-validity", "2", "-storetype", "PKCS12", "-keystore", server,
        "-storepass", pass, "-keypass", pass);
    keytool("-certreq", "-alias", "server", "-keystore", server, "-storepass", pass,
        "-file", dir.resolve("server.csr").toString());
    keytool("-gencert", "-alias", "ca", "-keystore", ca, "-storepass", pass, "-rfc",
        "-infile", dir.resolve("server.csr").toString(),
        "-outfile", dir.resolve("server.pem").toString(),
        "-ext", "san=ip:127.0.0.1,dns:localhost", "-ext", "eku=serverAuth", "-validity", "2");
    keytool("-importcert", "-noprompt", "-alias", "ca", "-keystore", server, "-storepass", pass,
        "-file", dir.resolve("ca.pem").toString());
    keytool("-importcert", "-alias", "server", "-keystore", server, "-storepass", pass,
        "-file", dir.resolve("server.pem").toString());
  }

  private HttpsServer startUpstream(AtomicInteger calls) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = new FileInputStream(dir.resolve("server.p12").toFile())) {
      ks.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, "changeit".toCharArray());
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(kmf.getKeyManagers(), null, null);
    HttpsServer https =
        HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    https.setHttpsConfigurator(new HttpsConfigurator(tls));
    https.createContext("/", ex -> {
      try (ex) {
        byte[] body = ("secure call " + calls.incrementAndGet() + " " + ex.getRequestURI() + " "
            + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
      }
    });
    https.start();
    return https;
  }

  @Test
  void httpsRecordAndReplayThroughTheMatgtoCa() throws Exception {
    makeUpstreamPki();
    AtomicInteger calls = new AtomicInteger();
    HttpsServer upstream = startUpstream(calls);
    URI uri = URI.create("https://127.0.0.1:" + upstream.getAddress().getPort() + "/secure?x=1");
    HttpRequest req = HttpRequest.newBuilder(uri).build();
    try (LocalServer server =
            LocalServer.builder().args("--upstream-ca-file", dir.resolve("ca.pem").toString()).start();
        MatgtoClient client = server.client()) {
      HttpClient http = client.httpClientBuilder().build(); // proxy + the matgto CA
      HttpClient untrusting = HttpClient.newBuilder().proxy(client.proxySelector()).build();

      client.startRecording("tls/secure");
      assertThrows(SSLHandshakeException.class,
          () -> untrusting.send(req, HttpResponse.BodyHandlers.ofString()),
          "without the matgto CA the intercepted host is not trusted");
      HttpResponse<byte[]> recorded = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
      assertEquals(200, recorded.statusCode(), () -> new String(recorded.body(), StandardCharsets.UTF_8));
      assertTrue(new String(recorded.body(), StandardCharsets.UTF_8).startsWith("secure call 1 "));
      assertEquals(1, client.stopRecording().getSession().getRecorded());
      assertTrue(client.getCassette("tls/secure").getInteractions(0).getHttp().getRequest().getUrl()
          .startsWith("https://127.0.0.1:"), "recorded as an https URL");

      upstream.stop(0);
      client.replay("tls/secure");
      HttpResponse<byte[]> replayed = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
      assertEquals(200, replayed.statusCode());
      assertArrayEquals(recorded.body(), replayed.body(), "HTTPS replay without the upstream");

      // JvmProxy: clients built with the JVM's defaults go through the proxy and trust its CA.
      SSLContext before = SSLContext.getDefault();
      try (JvmProxy p = JvmProxy.install(client)) {
        assertEquals(p.sslContext().orElseThrow(), SSLContext.getDefault());
        HttpResponse<byte[]> viaDefaults =
            HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofByteArray());
        assertArrayEquals(recorded.body(), viaDefaults.body(), "HttpClient.newHttpClient()");
        HttpsURLConnection conn = (HttpsURLConnection) uri.toURL().openConnection();
        try (InputStream in = conn.getInputStream()) {
          assertArrayEquals(recorded.body(), in.readAllBytes(), "HttpsURLConnection");
        }
      }
      assertEquals(before, SSLContext.getDefault(), "the default SSL context is restored");
      assertEquals(1, calls.get());
      client.stopRecording();
    } finally {
      upstream.stop(0);
    }
  }
}
