package dev.matgto.client;

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
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SSL helpers, against a CA made here with the JDK's keytool (no matgto server needed). */
class TlsTest {
  @TempDir static Path dir;
  static Path keystore;
  static String pem;

  @BeforeAll
  static void makeCa() throws Exception {
    keystore = dir.resolve("ca.p12");
    Path keytool = Paths.get(System.getProperty("java.home"), "bin", "keytool");
    run(keytool.toString(), "-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname",
        "secp256r1", "-dname", "CN=test matgto CA", "-ext", "bc:c", "-ext",
        "san=ip:127.0.0.1", "-validity", "2", "-storetype", "PKCS12", "-keystore",
        keystore.toString(), "-storepass", "changeit", "-keypass", "changeit");
    Path pemFile = dir.resolve("ca.pem");
    run(keytool.toString(), "-exportcert", "-rfc", "-alias", "ca", "-keystore",
        keystore.toString(), "-storepass", "changeit", "-file", pemFile.toString());
    pem = Files.readString(pemFile, StandardCharsets.US_ASCII);
    assertTrue(pem.contains("BEGIN CERTIFICATE"), pem);
  }

  private static void run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "keytool finished");
    assertEquals(0, p.exitValue(), () -> Arrays.toString(cmd) + "\n" + out);
  }

  @Test
  void trustManagerHasTheCaAndTheDefaultRoots() throws Exception {
    X509TrustManager tm = Tls.trustManager(pem);
    List<X509Certificate> issuers = Arrays.asList(tm.getAcceptedIssuers());
    int defaults = Tls.defaultTrustManager().getAcceptedIssuers().length;
    assertTrue(defaults > 0, "the JVM has default roots");
    assertEquals(defaults + 1, issuers.size());
    assertTrue(issuers.stream().anyMatch(c -> c.getSubjectX500Principal().getName().contains("test matgto CA")));
  }

  @Test
  void garbagePemIsRejected() {
    assertThrows(RuntimeException.class, () -> Tls.trustManager("not a certificate"));
  }

  @Test
  void sslContextTrustingConnectsToAServerSignedByTheCa() throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = new FileInputStream(keystore.toFile())) {
      ks.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, "changeit".toCharArray());
    SSLContext serverCtx = SSLContext.getInstance("TLS");
    serverCtx.init(kmf.getKeyManagers(), null, null);

    HttpsServer https =
        HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    https.setHttpsConfigurator(new HttpsConfigurator(serverCtx));
    https.createContext("/", ex -> {
      byte[] body = "secure".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    https.start();
    try {
      URI uri = URI.create("https://127.0.0.1:" + https.getAddress().getPort() + "/");
      HttpRequest req = HttpRequest.newBuilder(uri).build();

      HttpClient trusting =
          HttpClient.newBuilder().sslContext(MatgtoClient.sslContextTrusting(pem)).build();
      HttpResponse<String> r = trusting.send(req, HttpResponse.BodyHandlers.ofString());
      assertEquals("secure", r.body());

      HttpClient plain = HttpClient.newBuilder().build();
      assertThrows(SSLHandshakeException.class,
          () -> plain.send(req, HttpResponse.BodyHandlers.ofString()),
          "without the CA the default trust store refuses the server");
    } finally {
      https.stop(0);
    }
  }
}
