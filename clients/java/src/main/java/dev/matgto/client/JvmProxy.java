package dev.matgto.client;

import dev.matgto.v1.SessionInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;

/**
 * Points the whole JVM at a matgto proxy until {@link #close()}, for code under test that builds
 * its own HTTP clients: {@code HttpClient.newHttpClient()}, {@code HttpURLConnection}, and the
 * libraries that follow the JVM's proxy settings and default SSL context (OkHttp, Apache
 * HttpClient with system properties, ...).
 *
 * <ul>
 *   <li>System properties {@code http.proxyHost}/{@code http.proxyPort} and {@code
 *       https.proxyHost}/{@code https.proxyPort} = the proxy; {@code http.nonProxyHosts} = empty,
 *       so that {@code localhost} and {@code 127.*} go through it too (the JDK exempts them
 *       otherwise);
 *   <li>when the server intercepts HTTPS: the default {@link SSLContext} and {@link
 *       HttpsURLConnection}'s default socket factory trust the server's CA on top of the JVM's
 *       roots;
 *   <li>{@link #environment()}: the same for child processes ({@code HTTP_PROXY}, {@code
 *       SSL_CERT_FILE}, ...), to add to a {@link ProcessBuilder}'s environment.
 * </ul>
 *
 * <p>{@link #close()} restores every property (unset ones are cleared again) and the previous
 * defaults. These are JVM-wide settings: one {@code JvmProxy} at a time (a second {@code install}
 * before the first is closed throws), so not for tests running in parallel. The matgto control
 * channel ignores all of it. In JUnit 5, {@code @MatgtoCassette(jvmProxy = true)} installs one
 * around each test.
 *
 * <pre>{@code
 * try (JvmProxy p = JvmProxy.install(session)) {
 *   HttpClient.newHttpClient().send(request, BodyHandlers.ofString()); // through the session
 * }
 * }</pre>
 */
public final class JvmProxy implements AutoCloseable {
  /** The system properties set, and restored by {@link #close()}. */
  public static final List<String> PROPERTIES =
      List.of("http.proxyHost", "http.proxyPort", "https.proxyHost", "https.proxyPort",
          "http.nonProxyHosts");

  private static final AtomicReference<JvmProxy> ACTIVE = new AtomicReference<>();

  private final InetSocketAddress proxy;
  private final SSLContext sslContext; // null: no interception, the defaults stay
  private final Map<String, String> savedProperties = new LinkedHashMap<>();
  private final SSLContext savedDefaultContext;
  private final SSLSocketFactory savedHttpsFactory;
  private final Map<String, String> environment = new LinkedHashMap<>();
  private final Path tempDir;
  private boolean closed;

  private JvmProxy(InetSocketAddress proxy, String caPem) throws GeneralSecurityException {
    this.proxy = proxy;
    this.sslContext = caPem == null ? null : Tls.sslContextTrusting(caPem);
    this.savedDefaultContext = SSLContext.getDefault();
    this.savedHttpsFactory = HttpsURLConnection.getDefaultSSLSocketFactory();
    String host = proxy.getHostString();
    String url =
        "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + proxy.getPort();
    for (String k : List.of("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")) {
      environment.put(k, url);
    }
    environment.put("NO_PROXY", "");
    environment.put("no_proxy", "");
    if (caPem == null) {
      tempDir = null;
      return;
    }
    try {
      tempDir = Files.createTempDirectory("matgto-jvmproxy-");
      Path ca = Files.writeString(tempDir.resolve("matgto-ca.pem"), caPem, StandardCharsets.US_ASCII);
      StringBuilder bundle = new StringBuilder();
      Base64.Encoder b64 = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII));
      for (X509Certificate root : Tls.defaultTrustManager().getAcceptedIssuers()) {
        bundle.append("-----BEGIN CERTIFICATE-----\n")
            .append(b64.encodeToString(root.getEncoded()))
            .append("\n-----END CERTIFICATE-----\n");
      }
      bundle.append(caPem.endsWith("\n") ? caPem : caPem + "\n");
      Path all = Files.writeString(tempDir.resolve("ca-bundle.pem"), bundle, StandardCharsets.US_ASCII);
      for (String k : List.of("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")) {
        environment.put(k, all.toString());
      }
      environment.put("NODE_EXTRA_CA_CERTS", ca.toString());
    } catch (IOException e) {
      throw new UncheckedIOException("writing the matgto CA for child processes", e);
    }
  }

  /** Through {@code session}'s own proxy listener, trusting its server's CA. */
  public static JvmProxy install(Session session) {
    return install(session.client(), session.info());
  }

  /** Through the server's shared proxy port (its default session), trusting its CA. */
  public static JvmProxy install(MatgtoClient client) {
    return install(client.proxyAddress(), caOf(client));
  }

  /** Through the proxy listener of {@code session} (as the server described it). */
  public static JvmProxy install(MatgtoClient client, SessionInfo session) {
    return install(client.proxyAddress(session), caOf(client));
  }

  /**
   * Through {@code proxy}, trusting the CA certificates in {@code caPem} (PEM) on top of the JVM's
   * roots; a null {@code caPem} leaves the SSL defaults alone.
   *
   * @throws IllegalStateException when another {@code JvmProxy} is still installed
   */
  public static JvmProxy install(InetSocketAddress proxy, String caPem) {
    Objects.requireNonNull(proxy, "proxy");
    JvmProxy p;
    try {
      p = new JvmProxy(proxy, caPem);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot read the JVM's SSL defaults", e);
    }
    if (!ACTIVE.compareAndSet(null, p)) {
      p.deleteTemp();
      throw new IllegalStateException(
          "a JvmProxy through " + ACTIVE.get().proxy + " is still installed: close it first"
              + " (the JVM's proxy settings are global; not for tests running in parallel)");
    }
    p.apply();
    return p;
  }

  private static String caOf(MatgtoClient client) {
    try {
      String pem = client.caCertificatePem();
      return pem == null || pem.isBlank() ? null : pem;
    } catch (UnimplementedException e) {
      return null; // no HTTPS interception: nothing to trust
    }
  }

  private void apply() {
    for (String k : PROPERTIES) {
      savedProperties.put(k, System.getProperty(k));
    }
    String host = proxy.getHostString();
    String port = Integer.toString(proxy.getPort());
    System.setProperty("http.proxyHost", host);
    System.setProperty("http.proxyPort", port);
    System.setProperty("https.proxyHost", host);
    System.setProperty("https.proxyPort", port);
    System.setProperty("http.nonProxyHosts", "");
    if (sslContext != null) {
      SSLContext.setDefault(sslContext);
      HttpsURLConnection.setDefaultSSLSocketFactory(sslContext.getSocketFactory());
    }
  }

  /** The proxy every request goes through. */
  public InetSocketAddress proxy() {
    return proxy;
  }

  /** The default SSL context while installed; empty when the server does not intercept HTTPS. */
  public Optional<SSLContext> sslContext() {
    return Optional.ofNullable(sslContext);
  }

  /**
   * Variables pointing a child process at the same proxy: {@code HTTP_PROXY}, {@code HTTPS_PROXY}
   * (and lower case), {@code NO_PROXY} emptied and, when the server intercepts HTTPS, {@code
   * SSL_CERT_FILE}, {@code REQUESTS_CA_BUNDLE}, {@code CURL_CA_BUNDLE} (the JVM's roots plus the
   * server's CA, PEM) and {@code NODE_EXTRA_CA_CERTS} (the CA). The files go away at {@link
   * #close()}.
   */
  public Map<String, String> environment() {
    return Collections.unmodifiableMap(environment);
  }

  /** Restores the properties and SSL defaults as they were before {@code install}. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    savedProperties.forEach((k, v) -> {
      if (v == null) {
        System.clearProperty(k);
      } else {
        System.setProperty(k, v);
      }
    });
    if (sslContext != null) {
      SSLContext.setDefault(savedDefaultContext);
      HttpsURLConnection.setDefaultSSLSocketFactory(savedHttpsFactory);
    }
    deleteTemp();
    ACTIVE.compareAndSet(this, null);
  }

  private void deleteTemp() {
    if (tempDir == null) {
      return;
    }
    try {
      Files.deleteIfExists(tempDir.resolve("matgto-ca.pem"));
      Files.deleteIfExists(tempDir.resolve("ca-bundle.pem"));
      Files.deleteIfExists(tempDir);
    } catch (IOException e) {
      // best effort: temporary files
    }
  }
}
