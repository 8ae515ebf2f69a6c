package dev.matgto.client;

import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.Metadata;
import io.grpc.SecurityLevel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.UnaryOperator;

/**
 * How a {@link MatgtoClient} reaches a (possibly secured) control API: a bearer token, TLS with a
 * root CA, and a client certificate for mTLS. Immutable; each {@code with...} returns a copy.
 *
 * <pre>{@code
 * MatgtoClient.connect("matgto.internal:8889",
 *     ConnectionOptions.fromEnvironment()
 *         .withToken(token)
 *         .withTlsCa(Path.of("ca.pem"))
 *         .withClientCertificate(Path.of("client.pem"), Path.of("client.key")));
 * }</pre>
 *
 * <p>{@link #fromEnvironment()} (what {@link MatgtoClient#connect(String)} uses) reads {@value
 * #TOKEN_ENV}, {@value #TLS_CA_ENV}, {@value #TLS_CERT_ENV} and {@value #TLS_KEY_ENV}. TLS is on
 * when a CA or a client certificate is set, or after {@link #withTls()} (the JVM's default roots);
 * otherwise the channel is plaintext, as a loopback {@code matgto serve} listens. The token goes
 * with every call as {@code authorization: Bearer TOKEN} (gRPC call credentials). It is not sent
 * in plaintext to a host other than loopback unless {@link #plaintext()} chose plaintext
 * explicitly (e.g. behind a service mesh that encrypts): {@code connect} then throws {@link
 * IllegalArgumentException}.
 */
public final class ConnectionOptions {
  /** Environment variable holding the bearer token. */
  public static final String TOKEN_ENV = "MATGTO_TOKEN";

  /** Environment variable naming the PEM file of the roots that sign the server's certificate. */
  public static final String TLS_CA_ENV = "MATGTO_TLS_CA";

  /** Environment variable naming the client certificate chain (PEM) for mTLS. */
  public static final String TLS_CERT_ENV = "MATGTO_TLS_CERT";

  /** Environment variable naming the client certificate's private key (PEM, PKCS#8). */
  public static final String TLS_KEY_ENV = "MATGTO_TLS_KEY";

  private final String token; // null: none
  private final boolean tls;
  private final boolean explicitPlaintext;
  private final Path ca;
  private final Path cert;
  private final Path key;
  private final String source; // where the files came from, for messages ("" or " (from $...)")

  private ConnectionOptions(
      String token, boolean tls, boolean explicitPlaintext, Path ca, Path cert, Path key,
      String source) {
    this.token = token;
    this.tls = tls;
    this.explicitPlaintext = explicitPlaintext;
    this.ca = ca;
    this.cert = cert;
    this.key = key;
    this.source = source;
  }

  /** Plaintext, no token: nothing read from the environment. */
  public static ConnectionOptions none() {
    return new ConnectionOptions(null, false, false, null, null, null, "");
  }

  /** The options the environment variables give (the default of {@code connect}). */
  public static ConnectionOptions fromEnvironment() {
    return fromEnvironment(System::getenv);
  }

  /** Like {@link #fromEnvironment()}, reading variables through {@code env} (for tests). */
  static ConnectionOptions fromEnvironment(UnaryOperator<String> env) {
    String token = blankToNull(env.apply(TOKEN_ENV));
    String ca = blankToNull(env.apply(TLS_CA_ENV));
    String cert = blankToNull(env.apply(TLS_CERT_ENV));
    String key = blankToNull(env.apply(TLS_KEY_ENV));
    String source = ca != null || cert != null || key != null
        ? " (from $" + TLS_CA_ENV + "/$" + TLS_CERT_ENV + "/$" + TLS_KEY_ENV + ")" : "";
    return new ConnectionOptions(
        token, false, false, ca == null ? null : Paths.get(ca), cert == null ? null : Paths.get(cert),
        key == null ? null : Paths.get(key), source);
  }

  /** Sends {@code token} as {@code authorization: Bearer TOKEN}; null or empty: no token. */
  public ConnectionOptions withToken(String token) {
    String t = blankToNull(token);
    if (t != null && (t.indexOf('\r') >= 0 || t.indexOf('\n') >= 0)) {
      throw new IllegalArgumentException("the token contains a line break");
    }
    return new ConnectionOptions(t, tls, explicitPlaintext, ca, cert, key, source);
  }

  /** TLS, trusting the roots in the PEM file {@code caFile}. */
  public ConnectionOptions withTlsCa(Path caFile) {
    Objects.requireNonNull(caFile, "caFile");
    return new ConnectionOptions(token, tls, false, caFile, cert, key, "");
  }

  /** TLS with a client certificate chain and its PKCS#8 key (PEM files), for mTLS. */
  public ConnectionOptions withClientCertificate(Path certFile, Path keyFile) {
    Objects.requireNonNull(certFile, "certFile");
    Objects.requireNonNull(keyFile, "keyFile");
    return new ConnectionOptions(token, tls, false, ca, certFile, keyFile, "");
  }

  /** TLS even without a CA file: the JVM's default roots. */
  public ConnectionOptions withTls() {
    return new ConnectionOptions(token, true, false, ca, cert, key, source);
  }

  /**
   * Plaintext, explicitly: TLS settings (also those from the environment) are dropped, and the
   * token may go to a host other than loopback.
   */
  public ConnectionOptions plaintext() {
    return new ConnectionOptions(token, false, true, null, null, null, "");
  }

  /** Whether the channel will use TLS. */
  public boolean isTls() {
    return tls || ca != null || cert != null || key != null;
  }

  /** Whether a token is set. */
  public boolean hasToken() {
    return token != null;
  }

  /** The CA file, if any. */
  public Path tlsCa() {
    return ca;
  }

  /** The client certificate file, if any. */
  public Path clientCertificate() {
    return cert;
  }

  /**
   * The gRPC channel credentials for {@code target}.
   *
   * @throws IllegalArgumentException for a certificate without its key (or the reverse), an
   *     unreadable file, or a token that would go in plaintext to a non-loopback target
   */
  ChannelCredentials channelCredentials(String target) {
    ChannelCredentials base;
    if (!isTls()) {
      if (token != null && !explicitPlaintext && !isLoopbackTarget(target)) {
        throw new IllegalArgumentException(
            "refusing to send the token in plaintext to " + target + ": connect with TLS (withTlsCa"
                + " or $" + TLS_CA_ENV + ", or withTls() for the default roots), or choose"
                + " plaintext explicitly with plaintext() (e.g. behind an encrypting service mesh)");
      }
      base = InsecureChannelCredentials.create();
    } else {
      if ((cert == null) != (key == null)) {
        throw new IllegalArgumentException(
            "a client certificate needs its key: give both (withClientCertificate, or $"
                + TLS_CERT_ENV + " and $" + TLS_KEY_ENV + "), or neither" + source);
      }
      TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
      try {
        if (ca != null) {
          b.trustManager(ca.toFile());
        }
      } catch (IOException | RuntimeException e) {
        throw new IllegalArgumentException(
            "cannot read the TLS CA file " + ca + source + ": " + e.getMessage(), e);
      }
      try {
        if (cert != null) {
          b.keyManager(cert.toFile(), key.toFile());
        }
      } catch (IOException | RuntimeException e) {
        throw new IllegalArgumentException(
            "cannot read the TLS client certificate " + cert + " and key " + key + source + ": "
                + e.getMessage(), e);
      }
      base = b.build();
    }
    if (token == null) {
      return base;
    }
    return CompositeChannelCredentials.create(base, new Bearer(token, isTls()));
  }

  /** Whether a gRPC target names this machine (localhost, 127.0.0.0/8, ::1, a unix socket). */
  static boolean isLoopbackTarget(String target) {
    String t = target;
    if (t.startsWith("unix:")) {
      return true;
    }
    for (String prefix : new String[] {"dns:", "ipv4:", "ipv6:"}) {
      if (t.startsWith(prefix)) {
        t = t.substring(prefix.length());
      }
    }
    t = t.substring(t.lastIndexOf('/') + 1);
    String host = t;
    if (t.startsWith("[")) {
      host = t.substring(1, Math.max(1, t.indexOf(']')));
    } else if (t.indexOf(':') == t.lastIndexOf(':') && t.indexOf(':') >= 0) {
      host = t.substring(0, t.indexOf(':'));
    }
    host = host.toLowerCase(Locale.ROOT);
    if (host.equals("localhost") || host.endsWith(".localhost")) {
      return true;
    }
    if (!host.matches("[0-9]+(\\.[0-9]+){3}|[0-9a-f]*:[0-9a-f:.]*")) {
      return false; // a name: never resolved here
    }
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s.trim();
  }

  @Override
  public String toString() {
    return "ConnectionOptions[tls=" + isTls() + ", token=" + (token == null ? "none" : "***")
        + ", ca=" + ca + ", cert=" + cert + (explicitPlaintext ? ", plaintext" : "") + "]";
  }

  /**
   * The token as call credentials. Over TLS it is only sent on a connection with privacy and
   * integrity; on a plaintext channel that {@link #channelCredentials} allowed, it is sent as is.
   */
  static final class Bearer extends CallCredentials {
    private static final Metadata.Key<String> AUTHORIZATION =
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private final String value;
    private final boolean requirePrivacy;

    Bearer(String token, boolean requirePrivacy) {
      this.value = "Bearer " + token;
      this.requirePrivacy = requirePrivacy;
    }

    @Override
    public void applyRequestMetadata(
        RequestInfo requestInfo, Executor appExecutor, MetadataApplier applier) {
      if (requirePrivacy && requestInfo.getSecurityLevel() != SecurityLevel.PRIVACY_AND_INTEGRITY) {
        applier.fail(Status.UNAUTHENTICATED.withDescription(
            "matgto client: refusing to send the token over a connection without privacy"));
        return;
      }
      Metadata headers = new Metadata();
      headers.put(AUTHORIZATION, value);
      applier.apply(headers);
    }
  }
}
