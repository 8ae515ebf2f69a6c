package dev.matgto.client.junit;

import dev.matgto.client.BodyMatch;
import dev.matgto.client.CassetteOptions;
import dev.matgto.client.ExhaustedPolicy;
import dev.matgto.client.FailedPreconditionException;
import dev.matgto.client.Fault;
import dev.matgto.client.JvmProxy;
import dev.matgto.client.Latency;
import dev.matgto.client.LocalServer;
import dev.matgto.client.MatchRules;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.MatgtoException;
import dev.matgto.client.MissPolicy;
import dev.matgto.client.RedactRules;
import dev.matgto.client.RepeatPolicy;
import dev.matgto.client.Session;
import dev.matgto.client.SessionInfos;
import dev.matgto.client.UnimplementedException;
import dev.matgto.client.UrlRewrite;
import dev.matgto.client.WsTiming;
import dev.matgto.v1.Candidate;
import dev.matgto.v1.FieldDifference;
import dev.matgto.v1.Miss;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.http.HttpClient;
import java.nio.file.Paths;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import javax.net.ssl.SSLContext;
import org.junit.platform.commons.support.AnnotationSupport;

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

  /** The server's limit on {@code owner}. */
  static final int MAX_OWNER_BYTES = 256;

  private static final System.Logger LOG = System.getLogger(MatgtoExtension.class.getName());
  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(MatgtoExtension.class);
  private static final Pattern INVOCATION =
      Pattern.compile("\\[test-template-invocation:#(\\d+)]$");
  private static final Pattern NOT_ALLOWED = Pattern.compile("[^A-Za-z0-9._\\-+=@,\\[\\]]");
  /** Longest default name segment kept whole (file systems allow 255 bytes, with ".pb"). */
  private static final int MAX_SEGMENT = 200;
  /** The longest cassette name the server accepts (bytes). */
  private static final int MAX_NAME = 200;

  @Override
  public void beforeEach(ExtensionContext context) {
    if (!hasCassette(context)) {
      return; // @MatgtoLocalServer alone: the test uses the server as it likes
    }
    Settings settings = settings(context);
    MatgtoClient client = client(context);
    MatgtoCassette a = settings.annotation;
    ExtensionContext.Store store = context.getStore(NAMESPACE);
    if (a.newSession()) {
      Session session =
          client
              .session(settings.name)
              .mode(a.mode())
              .options(options(a))
              .lease(Duration.ofSeconds(a.leaseSeconds()))
              .owner(owner(context))
              .open();
      store.put(SessionResource.class, new SessionResource(session));
      store.put(SessionInfo.class, session.info());
    } else {
      SessionInfo info = client.useCassette(settings.name, a.mode(), options(a));
      store.put(SessionInfo.class, info);
      store.put(DefaultFaults.class, new DefaultFaults(faultIds(client)));
    }
    store.put(Settings.class, settings);
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
    Settings settings = store.remove(Settings.class, Settings.class);
    if (settings == null) {
      return; // beforeEach failed before a cassette was in use
    }
    SessionSummary summary;
    SessionResource resource = store.remove(SessionResource.class, SessionResource.class);
    if (resource != null) {
      summary = resource.session.stop(); // a lost session throws: the test fails with why
    } else {
      clearAddedFaults(client(context), store.remove(DefaultFaults.class, DefaultFaults.class));
      try {
        summary = client(context).stopRecording();
      } catch (FailedPreconditionException e) {
        return; // the test ended the default session's cassette itself
      }
    }
    List<Miss> misses = failingMisses(summary.getSession());
    if (misses.isEmpty()) {
      return;
    }
    String message = describeMisses(settings.name, summary.getSession());
    if (settings.annotation.failOnMiss()) {
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
      return client(context);
    }
    if (type == LocalServer.class) {
      LocalServerResource local = localServer(context);
      if (local == null) {
        throw new ParameterResolutionException(
            "no local matgto server here: annotate the test class with @MatgtoLocalServer, or set "
                + SERVER_PARAMETER + "=" + LOCAL_SERVER);
      }
      return local.server;
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
    InetSocketAddress proxy = client(context).proxyAddress(info);
    if (type == InetSocketAddress.class) {
      return proxy;
    }
    if (type == ProxySelector.class) {
      return ProxySelector.of(proxy);
    }
    if (type == HttpClient.Builder.class) {
      return httpClientBuilder(context, proxy);
    }
    if (type == HttpClient.class) {
      return httpClientBuilder(context, proxy).build();
    }
    throw new ParameterResolutionException("unsupported parameter type " + type);
  }

  /** Through {@code proxy} over HTTP/1.1, trusting the server's CA (fetched once per server). */
  private static HttpClient.Builder httpClientBuilder(
      ExtensionContext context, InetSocketAddress proxy) {
    HttpClient.Builder b =
        HttpClient.newBuilder().proxy(ProxySelector.of(proxy)).version(HttpClient.Version.HTTP_1_1);
    LocalServerResource local = localServer(context);
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

  /** {@code "junit <class>#<method> pid <pid>"}, the class shortened to fit 256 bytes. */
  static String owner(ExtensionContext context) {
    return owner(
        context.getRequiredTestClass().getName(),
        context.getRequiredTestMethod().getName() + invocationSuffix(context.getUniqueId()),
        ProcessHandle.current().pid());
  }

  static String owner(String testClass, String method, long pid) {
    String cls = testClass;
    String tail = "#" + method + " pid " + pid;
    String owner = "junit " + cls + tail;
    while (owner.getBytes(StandardCharsets.UTF_8).length > MAX_OWNER_BYTES && !cls.isEmpty()) {
      cls = cls.substring(1); // keep the end: the simple name is what people look for
      owner = "junit ..." + cls + tail;
    }
    byte[] bytes = owner.getBytes(StandardCharsets.UTF_8);
    if (bytes.length > MAX_OWNER_BYTES) { // an absurdly long method name: cut it
      owner = new String(bytes, 0, MAX_OWNER_BYTES, StandardCharsets.UTF_8);
      while (owner.getBytes(StandardCharsets.UTF_8).length > MAX_OWNER_BYTES
          || owner.endsWith("\uFFFD")) {
        owner = owner.substring(0, owner.length() - 1);
      }
    }
    return owner;
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

  /** The default session's fault rules before a test that uses it, so that the test's go after it. */
  private static final class DefaultFaults {
    final Set<String> ids;

    DefaultFaults(Set<String> ids) {
      this.ids = ids;
    }
  }

  private static Set<String> faultIds(MatgtoClient client) {
    Set<String> ids = new HashSet<>();
    for (Fault f : client.faults(SessionInfos.DEFAULT_SESSION_ID)) {
      ids.add(f.id());
    }
    return ids;
  }

  /**
   * Removes the fault rules a test added to the default session (which outlives the test); rules
   * that were there before it (set from the CLI, say) stay.
   */
  private static void clearAddedFaults(MatgtoClient client, DefaultFaults before) {
    if (before == null) {
      return;
    }
    try {
      Set<String> added = faultIds(client);
      added.removeAll(before.ids);
      if (!added.isEmpty()) {
        client.clearFaults(SessionInfos.DEFAULT_SESSION_ID, List.copyOf(added));
      }
    } catch (MatgtoException e) {
      LOG.log(System.Logger.Level.WARNING,
          "could not clear the fault rules a test added to the default session", e);
    }
  }

  // ---------------------------------------------------------------- options

  /** The cassette options an annotation asks for; attributes left at their default are unset. */
  static CassetteOptions options(MatgtoCassette a) {
    CassetteOptions.Builder b = CassetteOptions.builder();
    if (a.onExhausted() != ExhaustedPolicy.DEFAULT) {
      b.onExhausted(a.onExhausted());
    }
    if (a.repeat() != RepeatPolicy.DEFAULT) {
      b.repeat(a.repeat());
    }
    if (a.onMiss() != MissPolicy.DEFAULT) {
      b.onMiss(a.onMiss());
    }
    if (a.matchFields().length > 0
        || a.matchHeaders().length > 0
        || a.ignoreQueryParams().length > 0
        || a.queryOrderInsensitive()
        || a.matchBody() != BodyMatch.DEFAULT
        || a.ignoreJsonPointers().length > 0
        || a.ignoreFormFields().length > 0
        || a.urlRewrites().length > 0) {
      MatchRules.Builder m =
          MatchRules.builder()
              .fields(a.matchFields())
              .headers(a.matchHeaders())
              .ignoreQueryParams(a.ignoreQueryParams())
              .queryOrderInsensitive(a.queryOrderInsensitive())
              .body(a.matchBody())
              .ignoreJsonPointers(a.ignoreJsonPointers())
              .ignoreFormFields(a.ignoreFormFields());
      for (String rule : a.urlRewrites()) {
        m.urlRewrites(UrlRewrite.parse(rule));
      }
      b.match(m.build());
    }
    if (a.redactHeaders().length > 0
        || a.redactQueryParams().length > 0
        || a.redactJsonPointers().length > 0
        || a.redactFormFields().length > 0
        || a.redactBodyPatterns().length > 0
        || a.disableDefaultRedaction()) {
      b.redact(
          RedactRules.builder()
              .headers(a.redactHeaders())
              .queryParams(a.redactQueryParams())
              .jsonPointers(a.redactJsonPointers())
              .formFields(a.redactFormFields())
              .bodyPatterns(a.redactBodyPatterns())
              .disableDefaults(a.disableDefaultRedaction())
              .build());
    }
    if (a.storeDecoded()) {
      b.storeDecoded(true);
    }
    if (a.wsTiming() != WsTiming.DEFAULT) {
      b.wsTiming(a.wsTiming());
    }
    if (a.wsSpeed() != 0) {
      b.wsSpeed(a.wsSpeed());
    }
    if (a.streamTiming() != WsTiming.DEFAULT) {
      b.streamTiming(a.streamTiming());
    }
    if (a.streamSpeed() != 0) {
      b.streamSpeed(a.streamSpeed());
    }
    if (!a.latency().isBlank() || a.latencyScale() != 0) {
      b.latency(latency(a.latency(), a.latencyScale()));
    }
    return b.build();
  }

  /** {@link MatgtoCassette#latency()} and {@link MatgtoCassette#latencyScale()} as one setting. */
  static Latency latency(String text, double scale) {
    Latency l = text.isBlank() ? Latency.asRecorded() : Latency.parse(text);
    if (scale == 0) {
      return l;
    }
    if (l.mode() != dev.matgto.v1.LatencyMode.LATENCY_AS_RECORDED) {
      throw new IllegalArgumentException(
          "@MatgtoCassette(latencyScale) goes with latency = \"as-recorded\", not \"" + text + "\"");
    }
    return Latency.asRecorded(scale);
  }

  // ---------------------------------------------------------------- naming

  /** The cassette name for a test method, as documented on {@link MatgtoCassette}. */
  static Settings settings(ExtensionContext context) {
    Method method = context.getRequiredTestMethod();
    Class<?> testClass = context.getRequiredTestClass();
    Optional<MatgtoCassette> onMethod = AnnotationSupport.findAnnotation(method, MatgtoCassette.class);
    Optional<MatgtoCassette> onClass = findOnClass(testClass);
    MatgtoCassette effective =
        onMethod.orElseGet(
            () ->
                onClass.orElseThrow(
                    () -> new IllegalStateException("@MatgtoCassette not found for " + method)));

    String methodPart = method.getName() + invocationSuffix(context.getUniqueId());
    String name;
    if (onMethod.isPresent() && !onMethod.get().value().isEmpty()) {
      name = onMethod.get().value();
    } else if (onClass.isPresent() && !onClass.get().value().isEmpty()) {
      name = trimSlashes(onClass.get().value()) + "/" + safeSegment(methodPart);
    } else {
      name = defaultName(testClass, methodPart);
    }
    return new Settings(name, effective);
  }

  /** {@code pkg.Outer.Inner/method[N]}, each part made safe for the server's name rules. */
  static String defaultName(Class<?> testClass, String methodPart) {
    return safeName(List.of(classPart(testClass), methodPart));
  }

  /**
   * {@code parts} joined by {@code /}, each made a {@linkplain #safeSegment safe segment}, and the
   * whole cut to the server's {@value #MAX_NAME} bytes: a longer name keeps its first bytes and ends
   * with {@code -} and 8 hex digits of a hash of the original parts.
   */
  static String safeName(List<String> parts) {
    List<String> segments = new ArrayList<>();
    for (String p : parts) {
      segments.add(safeSegment(p));
    }
    String name = String.join("/", segments); // ASCII: characters are bytes
    if (name.length() <= MAX_NAME) {
      return name;
    }
    String suffix = "-" + hash8(String.join("/", parts));
    String cut = name.substring(0, MAX_NAME - suffix.length());
    while (cut.endsWith("/")) {
      cut = cut.substring(0, cut.length() - 1);
    }
    return cut + suffix;
  }

  private static Optional<MatgtoCassette> findOnClass(Class<?> testClass) {
    for (Class<?> c = testClass; c != null; c = c.getEnclosingClass()) {
      Optional<MatgtoCassette> found = AnnotationSupport.findAnnotation(c, MatgtoCassette.class);
      if (found.isPresent()) {
        return found;
      }
    }
    return Optional.empty();
  }

  /** The canonical name ({@code pkg.Outer.Inner}); the binary name for local/anonymous classes. */
  static String classPart(Class<?> testClass) {
    String canonical = testClass.getCanonicalName();
    return canonical != null ? canonical : testClass.getName();
  }

  private static String invocationSuffix(String uniqueId) {
    Matcher m = INVOCATION.matcher(uniqueId);
    return m.find() ? "[" + m.group(1) + "]" : "";
  }

  /**
   * One name segment the server accepts: allowed characters kept, others replaced by {@code _}, no
   * {@code ..}, at most {@value #MAX_SEGMENT} characters. A segment that had to change ends with
   * {@code -} and 8 hex digits of a hash of the original, so distinct originals stay distinct.
   */
  static String safeSegment(String s) {
    String safe = NOT_ALLOWED.matcher(s).replaceAll("_");
    while (safe.contains("..")) {
      safe = safe.replace("..", "._");
    }
    if (safe.equals(".")) {
      safe = "_";
    }
    if (safe.equals(s) && !s.isEmpty() && s.length() <= MAX_SEGMENT) {
      return s;
    }
    if (safe.length() > MAX_SEGMENT - 9) {
      safe = safe.substring(0, MAX_SEGMENT - 9);
    }
    return safe + "-" + hash8(s);
  }

  private static String hash8(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return String.format("%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  private static String trimSlashes(String s) {
    String t = s;
    while (t.endsWith("/")) {
      t = t.substring(0, t.length() - 1);
    }
    return t;
  }

  // ---------------------------------------------------------------- client

  static String serverAddress(ExtensionContext context) {
    Optional<String> param =
        context.getConfigurationParameter(SERVER_PARAMETER).filter(s -> !s.isBlank());
    if (param.isPresent()) {
      return param.get().trim();
    }
    return MatgtoClient.defaultAddress();
  }

  private static ExtensionContext.Store rootStore(ExtensionContext context) {
    return context.getRoot().getStore(NAMESPACE);
  }

  private static MatgtoClient client(ExtensionContext context) {
    LocalServerResource local = localServer(context);
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

  // ---------------------------------------------------------------- local server

  /**
   * The local server for this context: the one of the nearest enclosing test class annotated with
   * {@link MatgtoLocalServer} (started on first use, stopped with that class's context), else the
   * run's own when {@link #SERVER_PARAMETER} is {@value #LOCAL_SERVER}; null otherwise.
   */
  private static LocalServerResource localServer(ExtensionContext context) {
    for (ExtensionContext c = context; c != null; c = c.getParent().orElse(null)) {
      if (c.getElement().isPresent() && c.getElement().get() instanceof Class) {
        Class<?> testClass = (Class<?>) c.getElement().get();
        Optional<MatgtoLocalServer> a =
            AnnotationSupport.findAnnotation(testClass, MatgtoLocalServer.class);
        if (a.isPresent()) {
          ExtensionContext.Store store = c.getStore(NAMESPACE);
          return store.getOrComputeIfAbsent(
              LocalServerResource.class,
              k -> LocalServerResource.start(a.get().binary(), a.get().args(), store),
              LocalServerResource.class);
        }
      }
    }
    if (LOCAL_SERVER.equals(serverAddress(context))) {
      ExtensionContext.Store store = rootStore(context);
      return store.getOrComputeIfAbsent(
          LocalServerResource.class,
          k -> LocalServerResource.start("", new String[0], store),
          LocalServerResource.class);
    }
    return null;
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

  /** Whether the test method or its class (or an enclosing one) carries {@link MatgtoCassette}. */
  static boolean hasCassette(ExtensionContext context) {
    return context.getTestMethod()
            .flatMap(m -> AnnotationSupport.findAnnotation(m, MatgtoCassette.class))
            .isPresent()
        || context.getTestClass().flatMap(MatgtoExtension::findOnClass).isPresent();
  }

  static final class Settings {
    final String name;
    final MatgtoCassette annotation;

    Settings(String name, MatgtoCassette annotation) {
      this.name = name;
      this.annotation = annotation;
    }
  }

  // ---------------------------------------------------------------- misses

  /**
   * The misses that fail a test: those whose reason is in {@link #FAILING_MISS_REASONS} (misses the
   * miss policy forwarded live, "no-match, passed through" / "no-match, recorded", do not).
   */
  static List<Miss> failingMisses(SessionInfo session) {
    List<Miss> out = new ArrayList<>();
    for (Miss m : session.getMissesList()) {
      if (FAILING_MISS_REASONS.contains(m.getReason())) {
        out.add(m);
      }
    }
    return out;
  }

  static String describeMisses(String cassette, SessionInfo session) {
    List<Miss> misses = failingMisses(session);
    StringBuilder sb = new StringBuilder();
    sb.append("matgto cassette '").append(cassette).append('\'');
    if (!session.getId().isEmpty()) {
      sb.append(" (session ").append(session.getId()).append(", ")
          .append(session.getMode().name().toLowerCase(java.util.Locale.ROOT)).append(')');
    }
    sb.append(" could not answer ").append(misses.size()).append(" request(s):");
    for (Miss miss : misses) {
      sb.append("\n  ").append(miss.getMethod()).append(' ').append(miss.getUrl());
      sb.append(" (").append(miss.getReason()).append(')');
      if (miss.getClosestCount() == 0) {
        sb.append("\n    no recorded request is close");
      }
      for (Candidate c : miss.getClosestList()) {
        sb.append("\n    closest #")
            .append(c.getInteractionIndex())
            .append(": ")
            .append(c.getMethod())
            .append(' ')
            .append(c.getUrl());
        for (FieldDifference d : c.getDifferencesList()) {
          sb.append("\n      ")
              .append(d.getField())
              .append(": recorded '")
              .append(d.getRecorded())
              .append("', live '")
              .append(d.getLive())
              .append('\'');
        }
      }
    }
    if (session.getMissed() > session.getMissesCount()) {
      sb.append("\n  (the server lists the first ").append(session.getMissesCount())
          .append(" of ").append(session.getMissed()).append(" misses)");
    }
    return sb.toString();
  }
}
