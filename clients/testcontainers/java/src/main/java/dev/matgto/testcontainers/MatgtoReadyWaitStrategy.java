package dev.matgto.testcontainers;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.function.Supplier;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;

/**
 * Waits until {@code GET ADMIN_URL/readyz} answers 200, and fails at once, with the container's
 * log, when the container stops before that (a bad flag, a port in use).
 */
public class MatgtoReadyWaitStrategy extends AbstractWaitStrategy {
  private final Supplier<String> adminUrl;

  /** {@code adminUrl}: read when the wait starts (the ports are picked in {@code configure()}). */
  public MatgtoReadyWaitStrategy(Supplier<String> adminUrl) {
    this.adminUrl = adminUrl;
  }

  @Override
  protected void waitUntilReady() {
    URI uri = URI.create(adminUrl.get() + "/readyz");
    HttpClient http =
        HttpClient.newBuilder()
            .proxy(HttpClient.Builder.NO_PROXY) // loopback: never through a proxy
            .connectTimeout(Duration.ofSeconds(2))
            .build();
    HttpRequest req = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).GET().build();
    long deadline = System.nanoTime() + startupTimeout.toNanos();
    String last = "no answer yet";
    while (true) {
      if (!waitStrategyTarget.isRunning()) {
        throw new ContainerLaunchException(
            "matgto container stopped before "
                + uri
                + " answered; its log:\n"
                + waitStrategyTarget.getLogs());
      }
      try {
        HttpResponse<Void> r = http.send(req, HttpResponse.BodyHandlers.discarding());
        if (r.statusCode() == 200) return;
        last = "HTTP " + r.statusCode();
      } catch (IOException e) {
        last = e.toString();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ContainerLaunchException("interrupted waiting for " + uri, e);
      }
      if (System.nanoTime() > deadline) {
        throw new ContainerLaunchException(
            "matgto container not ready after "
                + startupTimeout.toSeconds()
                + " s ("
                + uri
                + ": "
                + last
                + "); its log:\n"
                + waitStrategyTarget.getLogs());
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ContainerLaunchException("interrupted waiting for " + uri, e);
      }
    }
  }
}
