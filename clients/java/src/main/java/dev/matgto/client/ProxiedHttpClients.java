package dev.matgto.client;

import java.net.ProxySelector;
import java.net.http.HttpClient;

/**
 * The {@link HttpClient.Builder}s {@link MatgtoClient#httpClientBuilder()} and {@link
 * Session#httpClientBuilder()} return: through a matgto proxy over HTTP/1.1, trusting the server's
 * interception CA when it has one.
 */
final class ProxiedHttpClients {
  private ProxiedHttpClients() {}

  /** Through {@code proxy} (the shared port or a session's own listener) to {@code client}. */
  static HttpClient.Builder builder(MatgtoClient client, ProxySelector proxy) {
    HttpClient.Builder builder =
        HttpClient.newBuilder().proxy(proxy).version(HttpClient.Version.HTTP_1_1);
    String pem;
    try {
      pem = client.caCertificatePem();
    } catch (UnimplementedException e) {
      pem = null; // no HTTPS interception on this server: plain HTTP recording only
    }
    if (pem != null && !pem.isBlank()) {
      builder.sslContext(Tls.sslContextTrusting(pem));
    }
    return builder;
  }
}
