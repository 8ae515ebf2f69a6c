package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;

/** JvmProxy: the JVM's proxy properties and SSL defaults for a while, then restored. */
@Isolated("sets JVM-wide proxy properties")
class JvmProxyTest extends ServerTestBase {
  @Test
  void clientsBuiltWithTheDefaultsGoThroughTheSessionThenNoMore() throws Exception {
    System.setProperty("http.nonProxyHosts", "example.internal"); // restored to this, not cleared
    Map<String, String> before = new HashMap<>();
    JvmProxy.PROPERTIES.forEach(k -> before.put(k, System.getProperty(k)));
    SSLContext ctxBefore = SSLContext.getDefault();
    SSLSocketFactory factoryBefore = HttpsURLConnection.getDefaultSSLSocketFactory();
    Map<String, String> env;
    try (Upstream upstream = new Upstream();
        Session session = client.session("jvmproxy/defaults").mode(Mode.RECORD).open()) {
      URI uri = upstream.uri("/text/via-defaults");
      try (JvmProxy p = JvmProxy.install(session)) {
        env = p.environment();
        String host = session.proxyAddress().getHostString();
        String port = Integer.toString(session.proxyAddress().getPort());
        assertEquals(host, System.getProperty("http.proxyHost"));
        assertEquals(port, System.getProperty("https.proxyPort"));
        assertEquals("", System.getProperty("http.nonProxyHosts"), "loopback is proxied too");
        assertSame(p.sslContext().orElseThrow(), SSLContext.getDefault());
        assertEquals("http://" + host + ":" + port, env.get("HTTPS_PROXY"));
        assertEquals(session.proxyUri().toString(), env.get("http_proxy"));
        String bundle = Files.readString(Path.of(env.get("SSL_CERT_FILE")));
        assertTrue(bundle.contains(client.caCertificatePem().trim()), "the bundle has the CA");
        assertTrue(bundle.split("BEGIN CERTIFICATE").length > 2, "and the JVM's roots");

        HttpResponse<String> r = HttpClient.newHttpClient()
            .send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        HttpURLConnection conn = (HttpURLConnection) uri.toURL().openConnection();
        try (InputStream in = conn.getInputStream()) {
          in.readAllBytes();
        }
        assertTrue(conn.usingProxy(), "HttpURLConnection used the proxy");
        assertEquals(2, session.status().orElseThrow().getRecorded(),
            "both requests went through the session");

        IllegalStateException twice =
            assertThrows(IllegalStateException.class, () -> JvmProxy.install(session));
        assertTrue(twice.getMessage().contains("still installed"), twice.getMessage());
      }
      JvmProxy.PROPERTIES.forEach(k -> assertEquals(before.get(k), System.getProperty(k), k));
      assertSame(ctxBefore, SSLContext.getDefault(), "default SSL context restored");
      assertSame(factoryBefore, HttpsURLConnection.getDefaultSSLSocketFactory());
      assertFalse(Files.exists(Path.of(env.get("SSL_CERT_FILE"))), "the bundle is removed");

      HttpURLConnection after = (HttpURLConnection) uri.toURL().openConnection();
      try (InputStream in = after.getInputStream()) {
        in.readAllBytes();
      }
      assertFalse(after.usingProxy(), "after close() requests go direct again");
      assertEquals(2, session.status().orElseThrow().getRecorded());
      // A new install works once the previous one is closed.
      try (JvmProxy again = JvmProxy.install(session)) {
        assertNotNull(again.proxy());
      }
    } finally {
      System.clearProperty("http.nonProxyHosts");
    }
  }
}
