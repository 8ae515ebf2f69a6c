package dev.matgto.testcontainers;

import com.github.dockerjava.api.DockerClient;
import dev.matgto.client.MatgtoClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.startupcheck.StartupCheckStrategy;
import org.testcontainers.utility.DockerImageName;

/**
 * {@code matgto serve} in a container, on the host network.
 *
 * <pre>{@code
 * try (MatgtoContainer matgto = new MatgtoContainer().withCassetteDir(Path.of("src/test/cassettes"))) {
 *   matgto.start();
 *   MatgtoClient client = matgto.client();            // connected; closed with the container
 *   try (Session s = client.session("users/get-1").open()) {   // records, then replays
 *     s.httpClientBuilder().build().send(request, BodyHandlers.ofString());
 *   }
 *   matgto.getProxyUrl();                               // the shared proxy port's URL
 * }
 * }</pre>
 *
 * <p>Host network: the proxy must reach the services under test wherever they listen (often
 * 127.0.0.1 on the host), and every session the client opens gets a proxy listener of its own on
 * an ephemeral port, which a port mapping cannot follow. The server binds 127.0.0.1 on free ports
 * picked on the host (proxy, control, admin), set through its {@code MATGTO_*} variables; the
 * container is ready when the admin port's {@code /readyz} answers 200 ({@link
 * MatgtoReadyWaitStrategy}, which fails at once with the log if the server exits).
 */
public class MatgtoContainer extends GenericContainer<MatgtoContainer> {
  /** The image {@code deploy/test-image.sh} and {@code make testcontainers-test} build locally. */
  public static final String DEFAULT_IMAGE = "localhost/matgto:test";

  /** Environment variable naming the image when none is given. */
  public static final String IMAGE_ENV = "MATGTO_IMAGE";

  /** Label on every container this module starts (for cleaning up without Ryuk). */
  public static final String LABEL = "dev.matgto.testcontainers";

  /** Where the cassette directory is mounted in the container. */
  public static final String CASSETTES_IN_CONTAINER = "/cassettes";

  private final String host;
  private int proxyPort;
  private int controlPort;
  private int adminPort;
  private Path cassetteDir;
  private Duration startupTimeout = Duration.ofSeconds(60);
  private final List<String> serverArgs = new ArrayList<>();
  private final List<MatgtoClient> clients = new ArrayList<>();

  /** The image named by {@code $MATGTO_IMAGE}, else {@link #DEFAULT_IMAGE}. */
  public MatgtoContainer() {
    this(defaultImage());
  }

  public MatgtoContainer(String image) {
    this(DockerImageName.parse(image));
  }

  public MatgtoContainer(DockerImageName image) {
    super(image);
    this.host = "127.0.0.1";
    withNetworkMode("host");
    withLabel(LABEL, "true");
  }

  /** {@code $MATGTO_IMAGE}, else {@link #DEFAULT_IMAGE}. */
  public static String defaultImage() {
    String env = System.getenv(IMAGE_ENV);
    return env == null || env.isEmpty() ? DEFAULT_IMAGE : env;
  }

  /**
   * Mounts {@code hostDir} (created if missing) read-write as the cassette directory, the server
   * running as the directory's owner so the cassettes it writes are yours; see {@link
   * #withCassetteDir(Path, boolean, boolean)}.
   */
  public MatgtoContainer withCassetteDir(Path hostDir) {
    return withCassetteDir(hostDir, false, true);
  }

  /**
   * Mounts {@code hostDir} (created if missing) as the server's cassette directory, so recordings
   * outlive the container and a later container replays them.
   *
   * @param asDirOwner run the server as the uid:gid owning {@code hostDir} (the image's own user,
   *     10001, could not write into a directory of yours); the interception CA then lives in the
   *     container's {@code /tmp}. {@code false} keeps the image's user: {@code hostDir} must be
   *     writable by 10001.
   */
  public MatgtoContainer withCassetteDir(Path hostDir, boolean readOnly, boolean asDirOwner) {
    try {
      Path dir = Files.createDirectories(hostDir).toAbsolutePath().normalize();
      cassetteDir = dir;
      withFileSystemBind(
          dir.toString(), CASSETTES_IN_CONTAINER, readOnly ? BindMode.READ_ONLY : BindMode.READ_WRITE);
      if (asDirOwner) {
        Object uid = Files.getAttribute(dir, "unix:uid");
        Object gid = Files.getAttribute(dir, "unix:gid");
        withCreateContainerCmdModifier(cmd -> cmd.withUser(uid + ":" + gid));
        withEnv("MATGTO_CA_DIR", "/tmp/matgto-ca");
        withEnv("MATGTO_CACHE_DIR", "/tmp/matgto-cache");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("matgto: cannot use cassette directory " + hostDir, e);
    }
    return self();
  }

  /**
   * Extra {@code matgto serve} flags, e.g. {@code "--mode", "replay", "--cassette", "x"} (any
   * {@code MATGTO_*} variable set with {@link #withEnv} works too).
   */
  public MatgtoContainer withServerArgs(String... args) {
    serverArgs.addAll(List.of(args));
    return self();
  }

  /** Fixed proxy, control and admin ports (0: a free one picked at start, the default). */
  public MatgtoContainer withPorts(int proxy, int control, int admin) {
    proxyPort = proxy;
    controlPort = control;
    adminPort = admin;
    return self();
  }

  /** How long to wait for {@code /readyz} (default 60 s). */
  public MatgtoContainer withReadyTimeout(Duration timeout) {
    startupTimeout = timeout;
    return self();
  }

  @Override
  protected void configure() {
    if (proxyPort == 0) proxyPort = freePort();
    if (controlPort == 0) controlPort = freePort();
    if (adminPort == 0) adminPort = freePort();
    // The command replaces the image's default one, which binds 0.0.0.0 (the whole host here).
    withEnv("MATGTO_PROXY_PORT", Integer.toString(proxyPort));
    withEnv("MATGTO_CONTROL_PORT", Integer.toString(controlPort));
    withEnv("MATGTO_ADMIN_PORT", Integer.toString(adminPort));
    withEnv("MATGTO_BIND", host);
    withEnv("MATGTO_CONTROL_BIND", host);
    withEnv("MATGTO_ADMIN_BIND", host);
    withEnv("MATGTO_CASSETTE_DIR", CASSETTES_IN_CONTAINER);
    withEnv("MATGTO_SERVER", getControlAddress()); // the image's HEALTHCHECK asks this address
    List<String> command = new ArrayList<>();
    command.add("serve");
    command.addAll(serverArgs);
    setCommand(command.toArray(new String[0]));
    waitingFor(new MatgtoReadyWaitStrategy(this::getAdminUrl).withStartupTimeout(startupTimeout));
    // Testcontainers' default check fails a container that exited at once
    // with "Container did not start correctly" and no log; the ready wait
    // above sees the exit too, and says why with the server's own words.
    withStartupCheckStrategy(new WaitStrategyDecides());
  }

  /** Leaves the verdict to the ready wait strategy (which reads the log). */
  private static final class WaitStrategyDecides extends StartupCheckStrategy {
    @Override
    public StartupStatus checkStartupState(DockerClient dockerClient, String containerId) {
      return StartupStatus.SUCCESSFUL;
    }
  }

  @Override
  public void stop() {
    for (MatgtoClient c : clients) c.close();
    clients.clear();
    super.stop();
  }

  /** Host network: the server listens on the host's loopback. */
  @Override
  public String getHost() {
    return host;
  }

  public int getProxyPort() {
    return proxyPort;
  }

  public int getControlPort() {
    return controlPort;
  }

  public int getAdminPort() {
    return adminPort;
  }

  /** {@code HOST:PORT} of the gRPC control API (what {@link MatgtoClient#connect} takes). */
  public String getControlAddress() {
    return host + ":" + controlPort;
  }

  /** {@code http://HOST:PORT} of the shared proxy port (the server's default session). */
  public String getProxyUrl() {
    return "http://" + host + ":" + proxyPort;
  }

  /** A {@link ProxySelector} for {@code java.net.http.HttpClient} on the shared proxy port. */
  public ProxySelector proxySelector() {
    return ProxySelector.of(new InetSocketAddress(host, proxyPort));
  }

  /** {@code http://HOST:PORT} of the admin port ({@code /metrics}, {@code /healthz}, {@code /readyz}). */
  public String getAdminUrl() {
    return "http://" + host + ":" + adminPort;
  }

  /** The mounted cassette directory on the host, or null. */
  public Path getCassetteDir() {
    return cassetteDir;
  }

  /** A client connected to this container's control API, closed when the container stops. */
  public MatgtoClient client() {
    if (!isRunning()) throw new IllegalStateException("matgto container is not running");
    MatgtoClient c = MatgtoClient.connect(getControlAddress());
    clients.add(c);
    return c;
  }

  private int freePort() {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(host, 0));
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("matgto: no free port on " + host, e);
    }
  }
}
