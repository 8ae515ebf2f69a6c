package dev.matgto.client;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A real matgto server process for the tests, on free loopback ports. */
public final class MatgtoServer implements AutoCloseable {
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);

  public final Path workDir;
  public final Path cassetteDir;
  public final Path logFile;
  public final Process process;
  /** "127.0.0.1:PORT" from the ready file. */
  public final String proxy;
  /** "127.0.0.1:PORT" from the ready file. */
  public final String control;
  public final long pid;

  private MatgtoServer(
      Path workDir, Path cassetteDir, Path logFile, Process process, JsonObject ready) {
    this.workDir = workDir;
    this.cassetteDir = cassetteDir;
    this.logFile = logFile;
    this.process = process;
    this.proxy = string(ready, "proxy");
    this.control = string(ready, "control");
    JsonElement pidEl = ready.get("pid");
    if (pidEl == null || !pidEl.isJsonPrimitive() || !pidEl.getAsJsonPrimitive().isNumber()) {
      throw new AssertionError("ready file has no numeric \"pid\": " + ready);
    }
    this.pid = pidEl.getAsLong();
  }

  /** The binary: env MATGTO_BIN, else property matgto.bin, else the repo's dev build. */
  public static Path binary() {
    String p = System.getenv("MATGTO_BIN");
    if (p == null || p.isBlank()) {
      p = System.getProperty("matgto.bin");
    }
    if (p == null || p.isBlank()) {
      p = System.getProperty("matgto.bin.default");
    }
    if (p == null || p.isBlank()) {
      p = "/work/main/build/dev/bin/matgto";
    }
    return Paths.get(p).toAbsolutePath();
  }

  public static MatgtoServer start() throws IOException, InterruptedException {
    return startWith();
  }

  /** Starts a server with more {@code matgto serve} flags. */
  public static MatgtoServer startWith(String... extraArgs) throws IOException, InterruptedException {
    Path work = newWorkDir();
    Path cassettes = Files.createDirectories(work.resolve("cassettes"));
    return start(work, cassettes, extraArgs);
  }

  /** Starts a server on an existing cassette directory (a second server after a first one). */
  public static MatgtoServer start(Path cassetteDir) throws IOException, InterruptedException {
    return start(newWorkDir(), cassetteDir);
  }

  private static Path newWorkDir() throws IOException {
    Path base = Paths.get("target", "matgto-servers").toAbsolutePath();
    Files.createDirectories(base);
    return Files.createTempDirectory(base, "srv-");
  }

  private static MatgtoServer start(Path work, Path cassettes, String... extraArgs)
      throws IOException, InterruptedException {
    Path bin = binary();
    if (!Files.isExecutable(bin)) {
      throw new AssertionError(
          "matgto binary not found or not executable at "
              + bin
              + " (set MATGTO_BIN or -Dmatgto.bin to the server binary)");
    }
    Path ready = work.resolve("ready.json");
    Path log = work.resolve("server.log");
    List<String> cmd = new ArrayList<>();
    cmd.add(bin.toString());
    cmd.add("serve");
    cmd.add("--proxy-port");
    cmd.add("0");
    cmd.add("--control-port");
    cmd.add("0");
    cmd.add("--cassette-dir");
    cmd.add(cassettes.toString());
    cmd.add("--ready-file");
    cmd.add(ready.toString());
    // An interception CA of its own, so that the tests never touch ~/.matgto.
    cmd.add("--ca-dir");
    cmd.add(work.resolve("ca").toString());
    cmd.addAll(List.of(extraArgs));
    Process proc =
        new ProcessBuilder(cmd)
            .directory(work.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    // Never leave a server behind, even when the test JVM is stopped early.
    Runtime.getRuntime().addShutdownHook(new Thread(proc::destroyForcibly));
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    try {
      while (true) {
        if (Files.exists(ready)) {
          String text = Files.readString(ready, StandardCharsets.UTF_8);
          JsonObject obj;
          try {
            obj = JsonParser.parseString(text).getAsJsonObject();
          } catch (RuntimeException e) {
            // The contract says the file is written atomically: a partial read is a violation.
            throw new AssertionError("ready file is not one JSON object: '" + text + "'", e);
          }
          MatgtoServer server = new MatgtoServer(work, cassettes, log, proc, obj);
          if (server.pid != proc.pid()) {
            server.close();
            throw new AssertionError(
                "ready file pid " + server.pid + " is not the server's pid " + proc.pid());
          }
          return server;
        }
        if (!proc.isAlive()) {
          throw new AssertionError(
              "matgto exited with " + proc.exitValue() + " before the ready file appeared:\n"
                  + tail(log));
        }
        if (System.nanoTime() > deadline) {
          proc.destroyForcibly();
          throw new AssertionError(
              "no ready file after " + READY_TIMEOUT.getSeconds() + " s:\n" + tail(log));
        }
        Thread.sleep(25);
      }
    } catch (IOException | InterruptedException | RuntimeException | Error e) {
      if (proc.isAlive()) {
        proc.destroyForcibly();
      }
      throw e;
    }
  }

  public MatgtoClient client() {
    return MatgtoClient.connect(control);
  }

  public String logTail() {
    return tail(logFile);
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      int from = Math.max(0, lines.size() - 40);
      return String.join("\n", lines.subList(from, lines.size()));
    } catch (IOException | RuntimeException e) {
      return "(no log: " + e + ")";
    }
  }

  private static String string(JsonObject obj, String key) {
    JsonElement el = obj.get(key);
    if (el == null || !el.isJsonPrimitive() || !el.getAsJsonPrimitive().isString()) {
      throw new AssertionError("ready file has no string \"" + key + "\": " + obj);
    }
    return el.getAsString();
  }

  /** Waits for the process to exit by itself. */
  public boolean waitForExit(Duration timeout) throws InterruptedException {
    return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }
}
