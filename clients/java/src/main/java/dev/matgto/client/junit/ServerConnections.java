package dev.matgto.client.junit;

import dev.matgto.client.LocalServer;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.UnimplementedException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.http.HttpClient;
import java.nio.file.Paths;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The matgto server {@link MatgtoExtension} uses for a test: the one {@link
 * MatgtoExtension#SERVER_PARAMETER} names, or a local one ({@link MatgtoLocalServer}, or the
 * parameter set to {@value MatgtoExtension#LOCAL_SERVER}) started on first use. The control client
 * and the trust in the server's CA are made once per server and kept in the extension store of the
 * context that owns the server, which closes them with it.
 */
final class ServerConnections {
  private ServerConnections() {}

  /** The configuration parameter {@link MatgtoExtension#SERVER_PARAMETER}, else the default. */
  static String serverAddress(ExtensionContext context) {
    Optional<String> param =
        context
            .getConfigurationParameter(MatgtoExtension.SERVER_PARAMETER)
            .filter(s -> !s.isBlank());
    if (param.isPresent()) {
      return param.get().trim();
    }
    return MatgtoClient.defaultAddress();
  }

  /** The control client of the server this context uses. */
  static MatgtoClient client(ExtensionContext context) {
    LocalServerResource local = localServerResource(context);
    if (local != null) {
      return local.client;
    }
    String address = serverAddress(context);
    return rootStore(context)
        .getOrComputeIfAbsent(
            "client:" + address, k -> new ClientResource(MatgtoClient.connect(address)),
            ClientResource.class)
        .client;
  }

  /** The local server this context uses; null when it uses a server named by address. */
  static LocalServer localServer(ExtensionContext context) {
    LocalServerResource local = localServerResource(context);
    return local == null ? null : local.server;
  }

  /** Through {@code proxy} over HTTP/1.1, trusting the server's CA (fetched once per server). */
  static HttpClient.Builder httpClientBuilder(ExtensionContext context, InetSocketAddress proxy) {
    HttpClient.Builder b =
        HttpClient.newBuilder().proxy(ProxySelector.of(proxy)).version(HttpClient.Version.HTTP_1_1);
    LocalServerResource local = localServerResource(context);
    ExtensionContext.Store store = local != null ? local.store : rootStore(context);
    String address = local != null ? local.server.controlAddress() : serverAddress(context);
    SSLContext tls =
        store.getOrComputeIfAbsent("tls:" + address, k -> new Trust(client(context)), Trust.class)
            .context;
    if (tls != null) {
      b.sslContext(tls);
    }
    return b;
  }

  private static ExtensionContext.Store rootStore(ExtensionContext context) {
    return context.getRoot().getStore(MatgtoExtension.NAMESPACE);
  }

  /**
   * The local server for this context: the one of the nearest enclosing test class annotated with
   * {@link MatgtoLocalServer} (started on first use, stopped with that class's context), else the
   * run's own when {@link MatgtoExtension#SERVER_PARAMETER} is {@value
   * MatgtoExtension#LOCAL_SERVER}; null otherwise.
   */
  private static LocalServerResource localServerResource(ExtensionContext context) {
    for (ExtensionContext c = context; c != null; c = c.getParent().orElse(null)) {
      if (c.getElement().isPresent() && c.getElement().get() instanceof Class) {
        Class<?> testClass = (Class<?>) c.getElement().get();
        Optional<MatgtoLocalServer> a =
            AnnotationSupport.findAnnotation(testClass, MatgtoLocalServer.class);
        if (a.isPresent()) {
          ExtensionContext.Store store = c.getStore(MatgtoExtension.NAMESPACE);
          return store.getOrComputeIfAbsent(
              LocalServerResource.class,
              k -> LocalServerResource.start(a.get().binary(), a.get().args(), store),
              LocalServerResource.class);
        }
      }
    }
    if (MatgtoExtension.LOCAL_SERVER.equals(serverAddress(context))) {
      ExtensionContext.Store store = rootStore(context);
      return store.getOrComputeIfAbsent(
          LocalServerResource.class,
          k -> LocalServerResource.start("", new String[0], store),
          LocalServerResource.class);
    }
    return null;
  }

  /** The SSL context trusting the server's CA; null while it has no HTTPS interception. */
  private static final class Trust {
    final SSLContext context;

    Trust(MatgtoClient client) {
      SSLContext c = null;
      try {
        String pem = client.caCertificatePem();
        if (pem != null && !pem.isBlank()) {
          c = MatgtoClient.sslContextTrusting(pem);
        }
      } catch (UnimplementedException e) {
        c = null;
      }
      context = c;
    }
  }

  /** Closed with the root context: AutoCloseable for JUnit 5.13+, CloseableResource before. */
  @SuppressWarnings("deprecation")
  private static final class ClientResource
      implements ExtensionContext.Store.CloseableResource, AutoCloseable {
    final MatgtoClient client;

    ClientResource(MatgtoClient client) {
      this.client = client;
    }

    @Override
    public void close() {
      client.close();
    }
  }

  /** A local server and a client of it, stopped when their extension context closes. */
  @SuppressWarnings("deprecation")
  private static final class LocalServerResource
      implements ExtensionContext.Store.CloseableResource, AutoCloseable {
    final LocalServer server;
    final MatgtoClient client;
    final ExtensionContext.Store store;

    private LocalServerResource(LocalServer server, ExtensionContext.Store store) {
      this.server = server;
      this.client = server.client();
      this.store = store;
    }

    static LocalServerResource start(String binary, String[] args, ExtensionContext.Store store) {
      LocalServer.Builder b = LocalServer.builder().args(args);
      if (!binary.isBlank()) {
        b.binary(Paths.get(binary));
      }
      try {
        return new LocalServerResource(b.start(), store);
      } catch (IOException e) {
        throw new UncheckedIOException("starting a local matgto server", e);
      } catch (IllegalStateException e) {
        throw new ExtensionConfigurationException(
            "cannot start a local matgto server: " + e.getMessage(), e);
      }
    }

    @Override
    public void close() {
      try {
        client.close();
      } finally {
        server.close();
      }
    }
  }
}
