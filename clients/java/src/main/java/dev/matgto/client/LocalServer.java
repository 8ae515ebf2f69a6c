package dev.matgto.client;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A local {@code matgto serve} process started from test code, on ports the server picks ({@code
 * --proxy-port 0 --control-port 0}), with the addresses read from its ready file. {@link #close()}
 * stops it (SIGTERM: an active recording is saved; SIGKILL after 10 s) and removes its temporary
 * folder; a JVM shutdown hook kills it if the JVM exits first.
 *
 * <pre>{@code
 * try (LocalServer server = LocalServer.start();
 *     MatgtoClient client = server.client()) {
 *   ...
 * }
 * }</pre>
 *
 * <p>The binary is {@link Builder#binary(Path)}, else environment variable {@value #BINARY_ENV},
 * else system property {@value #BINARY_PROPERTY}, else {@code matgto} on {@code PATH}. In JUnit 5
 * tests, {@link dev.matgto.client.junit.MatgtoLocalServer} starts one per test class.
 */
public final class LocalServer implements AutoCloseable {
  /** Environment variable naming the server binary. */
  public static final String BINARY_ENV = "MATGTO_BIN";

  /** System property naming the server binary (after {@value #BINARY_ENV}). */
  public static final String BINARY_PROPERTY = "matgto.bin";

  private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration STOP_GRACE = Duration.ofSeconds(10);

  private final Path workDir;
  private final Path cassetteDir;
  private final Path logFile;
  private final Process process;
  private final Thread shutdownHook;
  private final String proxy;
  private final String control;
  private final long pid;

  private LocalServer(
      Path workDir, Path cassetteDir, Path logFile, Process process,
      Thread shutdownHook, Ready ready) {
    this.workDir = workDir;
    this.cassetteDir = cassetteDir;
    this.logFile = logFile;
    this.process = process;
    this.shutdownHook = shutdownHook;
    this.proxy = ready.proxy;
    this.control = ready.control;
    this.pid = ready.pid;
  }

  /** Starts a server with the defaults: cassettes in a temporary folder, no extra flags. */
  public static LocalServer start() throws IOException {
    return builder().start();
  }

  /** A builder for the binary, the cassette folder, more flags and the start timeout. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The server binary: {@code explicit} when not null, else {@value #BINARY_ENV}, else {@value
   * #BINARY_PROPERTY}, else {@code matgto} on {@code PATH}.
   *
   * @throws IllegalStateException naming where it looked
   */
  public static Path findBinary(Path explicit) {
    Path bin = explicit;
    String from = "the builder";
    if (bin == null) {
      String env = System.getenv(BINARY_ENV);
      String prop = System.getProperty(BINARY_PROPERTY);
      if (env != null && !env.isBlank()) {
        bin = Paths.get(env);
        from = "$" + BINARY_ENV;
      } else if (prop != null && !prop.isBlank()) {
        bin = Paths.get(prop);
        from = "-D" + BINARY_PROPERTY;
      } else {
        bin = onPath("matgto");
        from = "PATH";
      }
    }
    if (bin == null) {
      throw new IllegalStateException(
          "no matgto server binary: pass one to LocalServer.builder().binary(..), set "
              + BINARY_ENV + " or -D" + BINARY_PROPERTY + ", or put matgto on PATH");
    }
    if (!Files.isRegularFile(bin) || !Files.isExecutable(bin)) {
      throw new IllegalStateException(
          "the matgto server binary " + bin + " (from " + from + ") is not an executable file");
    }
    return bin.toAbsolutePath();
  }

  private static Path onPath(String name) {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String dir : path.split(Pattern.quote(File.pathSeparator))) {
      if (!dir.isEmpty()) {
        Path p = Paths.get(dir, name);
        if (Files.isRegularFile(p) && Files.isExecutable(p)) {
          return p;
        }
      }
    }
    return null;
  }

  /** Builds a {@link LocalServer}. */
  public static final class Builder {
    private Path binary;
    private Path cassetteDir;
    private final List<String> args = new ArrayList<>();
    private Duration timeout = DEFAULT_TIMEOUT;

    private Builder() {}

    /** The server binary (default: see {@link LocalServer#findBinary(Path)}). */
    public Builder binary(Path binary) {
      this.binary = binary;
      return this;
    }

    /** Where the cassettes live; kept by {@link #close()} (default: a temporary folder). */
    public Builder cassetteDir(Path dir) {
      this.cassetteDir = dir;
      return this;
    }

    /**
     * More {@code matgto serve} flags, e.g. {@code "--mode", "replay"}. Unless they name a CA
     * ({@code --ca-dir} or {@code --ca-cert}), the server gets a throwaway interception CA.
     */
    public Builder args(String... args) {
      this.args.addAll(List.of(args));
      return this;
    }

    /** How long to wait for the ready file (default 30 s). */
    public Builder startTimeout(Duration timeout) {
      this.timeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * Starts the server and waits for its ready file.
     *
     * @throws IllegalStateException when the binary is missing, the server exits early, or no
     *     ready file appears in time (with the server's output)
     */
    public LocalServer start() throws IOException {
      Path bin = findBinary(binary);
      Path work = Files.createTempDirectory("matgto-java-");
      Path cassettes = cassetteDir == null ? work.resolve("cassettes") : cassetteDir.toAbsolutePath();
      Files.createDirectories(cassettes);
      Path ready = work.resolve("ready.json");
      Path log = work.resolve("server.log");
      List<String> cmd = new ArrayList<>(List.of(bin.toString(), "serve", "--proxy-port", "0",
          "--control-port", "0", "--cassette-dir", cassettes.toString(), "--ready-file",
          ready.toString()));
      if (!args.contains("--ca-dir") && !args.contains("--ca-cert")) {
        cmd.add("--ca-dir");
        cmd.add(work.resolve("ca").toString());
      }
      cmd.addAll(args);
      Process proc =
          new ProcessBuilder(cmd)
              .directory(work.toFile())
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      Thread hook = new Thread(() -> {
        proc.destroyForcibly();
        deleteTree(work);
      }, "matgto-local-server-stop");
      Runtime.getRuntime().addShutdownHook(hook);
      long deadline = System.nanoTime() + timeout.toNanos();
      try {
        while (true) {
          if (Files.exists(ready)) {
            Ready r = Ready.parse(ready, Files.readString(ready, StandardCharsets.UTF_8));
            if (r.pid != proc.pid()) {
              throw new IllegalStateException(
                  "the ready file " + ready + " names pid " + r.pid + "; the server is "
                      + proc.pid());
            }
            return new LocalServer(work, cassettes, log, proc, hook, r);
          }
          if (!proc.isAlive()) {
            throw new IllegalStateException(bin + " serve exited (status " + proc.exitValue()
                + ") before writing its ready file; output:\n" + read(log));
          }
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException(bin + " serve wrote no ready file within "
                + timeout.toMillis() + " ms; output:\n" + read(log));
          }
          Thread.sleep(20);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        stopProcess(proc);
        removeHook(hook);
        deleteTree(work);
        throw new IOException("interrupted while waiting for the matgto server to start", e);
      } catch (IOException | RuntimeException e) {
        stopProcess(proc);
        removeHook(hook);
        deleteTree(work);
        throw e;
      }
    }
  }

  /** The ready file's {@code {"proxy": "...", "control": "...", "pid": N}}. */
  private static final class Ready {
    final String proxy;
    final String control;
    final long pid;

    private Ready(String proxy, String control, long pid) {
      this.proxy = proxy;
      this.control = control;
      this.pid = pid;
    }

    // The contract's object is flat: two strings of host:port and a number, so a pattern per
    // field reads it without a JSON library in the client's dependencies.
    static Ready parse(Path file, String text) {
      String t = text.trim();
      Matcher proxy = Pattern.compile("\"proxy\"\\s*:\\s*\"([^\"\\\\]+)\"").matcher(t);
      Matcher control = Pattern.compile("\"control\"\\s*:\\s*\"([^\"\\\\]+)\"").matcher(t);
      Matcher pid = Pattern.compile("\"pid\"\\s*:\\s*([0-9]+)\\s*[,}]").matcher(t);
      if (!t.startsWith("{") || !t.endsWith("}") || !proxy.find() || !control.find()
          || !pid.find()) {
        throw new IllegalStateException(
            "the ready file " + file + " is not the JSON object of the contract"
                + " {\"proxy\", \"control\", \"pid\"}: '" + text + "'");
      }
      return new Ready(proxy.group(1), control.group(1), Long.parseLong(pid.group(1)));
    }
  }

  /** The shared proxy port, {@code "127.0.0.1:PORT"}. */
  public String proxyAddress() {
    return proxy;
  }

  /** The control API, {@code "127.0.0.1:PORT"}: for {@link MatgtoClient#connect(String)}. */
  public String controlAddress() {
    return control;
  }

  /** The server's process id, from the ready file. */
  public long pid() {
    return pid;
  }

  /** The server process. */
  public Process process() {
    return process;
  }

  /** Where the cassettes are. */
  public Path cassetteDir() {
    return cassetteDir;
  }

  /** A new client of the control API (token and TLS from the environment); close it. */
  public MatgtoClient client() {
    return MatgtoClient.connect(control);
  }

  /** What the server printed so far (stdout and stderr). */
  public String output() {
    return read(logFile);
  }

  /** Waits for the server to exit by itself (after {@code shutdown()}); true when it did. */
  public boolean waitForExit(Duration timeout) throws InterruptedException {
    return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * Stops the server (SIGTERM, SIGKILL after 10 s) and removes its temporary folder, with the
   * cassettes unless {@link Builder#cassetteDir(Path)} named the folder. Idempotent.
   */
  @Override
  public void close() {
    stopProcess(process);
    removeHook(shutdownHook);
    deleteTree(workDir); // a named cassette folder lies outside it
  }

  @Override
  public String toString() {
    return "LocalServer{pid=" + pid + ", proxy=" + proxy + ", control=" + control + "}";
  }

  private static void stopProcess(Process p) {
    if (!p.isAlive()) {
      return;
    }
    p.destroy();
    try {
      if (!p.waitFor(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // the hook runs anyway
    }
  }

  private static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | RuntimeException e) {
      // best effort: a temporary folder
    }
  }

  private static String read(Path log) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no output: " + e + ")";
    }
  }
}
