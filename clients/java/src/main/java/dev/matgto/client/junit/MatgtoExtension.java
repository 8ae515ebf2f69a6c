package dev.matgto.client.junit;

import dev.matgto.client.FailedPreconditionException;
import dev.matgto.client.JvmProxy;
import dev.matgto.client.LocalServer;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.Session;
import dev.matgto.v1.Miss;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * The JUnit 5 extension behind {@link MatgtoCassette}: a new server session per test, stopped after
 * it, failing the test on a replay miss. Safe under JUnit's parallel execution: everything a test
 * uses lives in its own extension context; the control client is shared (it is thread-safe).
 */
public class MatgtoExtension implements BeforeEachCallback, AfterEachCallback, ParameterResolver {
  /** Configuration parameter (or system property) naming the server's control address. */
  public static final String SERVER_PARAMETER = MatgtoClient.ADDRESS_PROPERTY;

  /**
   * The value of {@link #SERVER_PARAMETER} that starts one local server ({@link LocalServer}) for
   * the whole test run, stopped when the run ends.
   */
  public static final String LOCAL_SERVER = "local";

  /** The report entry key under which misses are published when they only warn. */
  public static final String MISSES_REPORT_KEY = "matgto.misses";

  /** Miss reasons that mean the cassette could not answer (the others were forwarded live). */
  public static final Set<String> FAILING_MISS_REASONS =
      Set.of("no-match", "exhausted", "ws-mismatch");

  /** Where the extension keeps what a test, a test class or the run uses. */
  static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(MatgtoExtension.class);

  private static final System.Logger LOG = System.getLogger(MatgtoExtension.class.getName());

  @Override
  public void beforeEach(ExtensionContext context) {
    if (!CassetteAnnotations.hasCassette(context)) {
      return; // @MatgtoLocalServer alone: the test uses the server as it likes
    }
    TestCassette cassette = CassetteAnnotations.testCassette(context);
    MatgtoClient client = ServerConnections.client(context);
    MatgtoCassette a = cassette.annotation();
    ExtensionContext.Store store = context.getStore(NAMESPACE);
    if (a.newSession()) {
      Session session =
          client
              .session(cassette.name())
              .mode(a.mode())
              .options(CassetteAnnotations.options(a))
              .lease(Duration.ofSeconds(a.leaseSeconds()))
              .owner(CassetteNames.owner(context))
              .open();
      store.put(SessionResource.class, new SessionResource(session));
      store.put(SessionInfo.class, session.info());
    } else {
      SessionInfo info =
          client.useCassette(cassette.name(), a.mode(), CassetteAnnotations.options(a));
      store.put(SessionInfo.class, info);
      store.put(DefaultSessionFaults.class, DefaultSessionFaults.before(client));
    }
    store.put(TestCassette.class, cassette);
    if (a.jvmProxy()) {
      SessionInfo info = store.get(SessionInfo.class, SessionInfo.class);
      store.put(JvmProxyResource.class, new JvmProxyResource(JvmProxy.install(client, info)));
    }
  }

  @Override
  public void afterEach(ExtensionContext context) {
    ExtensionContext.Store store = context.getStore(NAMESPACE);
    JvmProxyResource jvmProxy = store.remove(JvmProxyResource.class, JvmProxyResource.class);
    if (jvmProxy != null) {
      jvmProxy.close();
    }
    TestCassette cassette = store.remove(TestCassette.class, TestCassette.class);
    if (cassette == null) {
      return; // beforeEach failed before a cassette was in use
    }
    SessionSummary summary;
    SessionResource resource = store.remove(SessionResource.class, SessionResource.class);
    if (resource != null) {
      summary = resource.session.stop(); // a lost session throws: the test fails with why
    } else {
      MatgtoClient client = ServerConnections.client(context);
      DefaultSessionFaults before =
          store.remove(DefaultSessionFaults.class, DefaultSessionFaults.class);
      if (before != null) {
        before.clearAdded(client);
      }
      try {
        summary = client.stopRecording();
      } catch (FailedPreconditionException e) {
        return; // the test ended the default session's cassette itself
      }
    }
    List<Miss> misses = MissReport.failingMisses(summary.getSession());
    if (misses.isEmpty()) {
      return;
    }
    String message = MissReport.describeMisses(cassette.name(), summary.getSession());
    if (cassette.annotation().failOnMiss()) {
      throw new AssertionError(message);
    }
    context.publishReportEntry(MISSES_REPORT_KEY, message);
    LOG.log(System.Logger.Level.WARNING, context.getDisplayName() + ": " + message);
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    return type == MatgtoClient.class
        || type == LocalServer.class
        || type == HttpClient.class
        || type == HttpClient.Builder.class
        || type == ProxySelector.class
        || type == InetSocketAddress.class
        || type == Session.class
        || type == SessionInfo.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    if (type == MatgtoClient.class) {
      return ServerConnections.client(context);
    }
    if (type == LocalServer.class) {
      LocalServer local = ServerConnections.localServer(context);
      if (local == null) {
        throw new ParameterResolutionException(
            "no local matgto server here: annotate the test class with @MatgtoLocalServer, or set "
                + SERVER_PARAMETER + "=" + LOCAL_SERVER);
      }
      return local;
    }
    ExtensionContext.Store store = context.getStore(NAMESPACE);
    SessionInfo info = store.get(SessionInfo.class, SessionInfo.class);
    if (info == null) {
      throw new ParameterResolutionException(
          "no matgto session is open here: " + type.getSimpleName() + " can only be injected into"
              + " test methods and their @BeforeEach/@AfterEach methods");
    }
    if (type == SessionInfo.class) {
      return info;
    }
    SessionResource resource = store.get(SessionResource.class, SessionResource.class);
    if (type == Session.class) {
      if (resource == null) {
        throw new ParameterResolutionException(
            "@MatgtoCassette(newSession = false) uses the server's default session: no Session");
      }
      return resource.session;
    }
    InetSocketAddress proxy = ServerConnections.client(context).proxyAddress(info);
    if (type == InetSocketAddress.class) {
      return proxy;
    }
    if (type == ProxySelector.class) {
      return ProxySelector.of(proxy);
    }
    if (type == HttpClient.Builder.class) {
      return ServerConnections.httpClientBuilder(context, proxy);
    }
    if (type == HttpClient.class) {
      return ServerConnections.httpClientBuilder(context, proxy).build();
    }
    throw new ParameterResolutionException("unsupported parameter type " + type);
  }

  /** Stops a session the extension still holds when its test's context closes (a safety net). */
  @SuppressWarnings("deprecation")
  private static final class SessionResource
      implements ExtensionContext.Store.CloseableResource, AutoCloseable {
    final Session session;

    SessionResource(Session session) {
      this.session = session;
    }

    @Override
    public void close() {
      if (!session.isStopped() && !session.isLost()) {
        session.stop();
      }
    }
  }

  /** Restores the JVM's proxy settings after a {@code jvmProxy = true} test (a safety net). */
  @SuppressWarnings("deprecation")
  private static final class JvmProxyResource
      implements ExtensionContext.Store.CloseableResource, AutoCloseable {
    final JvmProxy proxy;

    JvmProxyResource(JvmProxy proxy) {
      this.proxy = proxy;
    }

    @Override
    public void close() {
      proxy.close();
    }
  }
}
