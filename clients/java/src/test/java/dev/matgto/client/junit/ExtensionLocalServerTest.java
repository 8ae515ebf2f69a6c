package dev.matgto.client.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.matgto.client.LocalServer;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.Session;
import dev.matgto.client.Upstream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Isolated;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;

/** The extension's local server: per class (@MatgtoLocalServer) and per run (matgto.server=local). */
@Isolated("a fixture sets JVM-wide proxy properties")
class ExtensionLocalServerTest {
  static final Map<String, LocalServer> SEEN = new ConcurrentHashMap<>();
  static final Map<String, Long> RECORDED = new ConcurrentHashMap<>();
  static final Map<String, String> PROPS = new ConcurrentHashMap<>();
  static Upstream upstream;

  @BeforeAll
  static void startUpstream() throws Exception {
    upstream = new Upstream();
  }

  @AfterAll
  static void stopUpstream() {
    upstream.close();
  }

  private static EngineExecutionResults run(String server, Class<?>... fixtures) {
    SEEN.clear();
    RECORDED.clear();
    PROPS.clear();
    EngineTestKit.Builder kit = EngineTestKit.engine("junit-jupiter");
    if (server != null) {
      kit = kit.configurationParameter(MatgtoExtension.SERVER_PARAMETER, server);
    }
    for (Class<?> f : fixtures) {
      kit = kit.selectors(selectClass(f));
    }
    return kit.execute();
  }

  private static String failures(EngineExecutionResults results) {
    return results.allEvents().failed().stream()
        .map(e -> e.getTestDescriptor().getDisplayName() + ": "
            + e.getPayload(TestExecutionResult.class)
                .flatMap(TestExecutionResult::getThrowable).map(Throwable::toString).orElse("?"))
        .collect(Collectors.joining("\n"));
  }

  static String fetch(HttpClient http, String path) throws Exception {
    HttpResponse<String> r = http.send(
        HttpRequest.newBuilder(upstream.uri(path)).build(), HttpResponse.BodyHandlers.ofString());
    return r.statusCode() + " " + r.body();
  }

  // ------------------------------------------------------------------ fixtures

  @MatgtoLocalServer(args = {"--mode", "record"})
  @MatgtoCassette
  static class PerClass {
    static LocalServer fromBeforeAll;

    @BeforeAll
    static void before(LocalServer server, MatgtoClient client) {
      fromBeforeAll = server;
      assertEquals(server.controlAddress(), client.target());
    }

    @Test
    void first(LocalServer server, HttpClient http, Session session) throws Exception {
      SEEN.put("first", server);
      assertSame(fromBeforeAll, server, "one server for the class");
      assertTrue(fetch(http, "/text/local").startsWith("200 "));
      RECORDED.put("first", session.status().orElseThrow().getRecorded());
    }

    @Test
    void second(LocalServer server) {
      SEEN.put("second", server);
    }
  }

  @MatgtoLocalServer
  static class ServerOnly {
    @Test
    void noSessionIsOpened(LocalServer server, MatgtoClient client) {
      SEEN.put("serverOnly", server);
      assertTrue(client.status().getSessionsList().isEmpty(), "no @MatgtoCassette: no session");
    }
  }

  @MatgtoCassette
  static class RunWideA {
    @Test
    void a(LocalServer server) {
      SEEN.put("a", server);
    }
  }

  @MatgtoCassette
  static class RunWideB {
    @Test
    void b(LocalServer server) {
      SEEN.put("b", server);
    }
  }

  @MatgtoCassette(jvmProxy = true, mode = dev.matgto.client.Mode.RECORD)
  static class JvmProxyFixture {
    @Test
    void viaTheJvmDefaults(Session session) throws Exception {
      PROPS.put("during", String.valueOf(System.getProperty("http.proxyPort")));
      assertEquals(Integer.toString(session.proxyAddress().getPort()),
          System.getProperty("http.proxyPort"));
      assertTrue(fetch(HttpClient.newHttpClient(), "/text/jvm").startsWith("200 "));
      RECORDED.put("jvm", session.status().orElseThrow().getRecorded());
    }
  }

  @ExtendWith(MatgtoExtension.class)
  static class NoLocalServer {
    @Test
    void wantsOne(LocalServer server) {}
  }

  // ------------------------------------------------------------------ tests

  @Test
  void aClassGetsOneServerStoppedAfterIt() {
    EngineExecutionResults results = run(null, PerClass.class);
    assertEquals(2, results.testEvents().succeeded().count(), failures(results));
    LocalServer server = SEEN.get("first");
    assertSame(server, SEEN.get("second"));
    assertEquals(1L, RECORDED.get("first"), "the request went through the test's session");
    assertFalse(server.process().isAlive(), "stopped after the class");
    assertFalse(Files.exists(server.cassetteDir()), "its temporary folder removed");
  }

  @Test
  void theAnnotationAloneGivesTheServerWithoutSessions() {
    EngineExecutionResults results = run(null, ServerOnly.class);
    assertEquals(1, results.testEvents().succeeded().count(), failures(results));
    assertFalse(SEEN.get("serverOnly").process().isAlive());
  }

  @Test
  void localAsServerParameterGivesOneServerForTheRun() {
    EngineExecutionResults results =
        run(MatgtoExtension.LOCAL_SERVER, RunWideA.class, RunWideB.class);
    assertEquals(2, results.testEvents().succeeded().count(), failures(results));
    assertSame(SEEN.get("a"), SEEN.get("b"), "one server for both classes");
    assertFalse(SEEN.get("a").process().isAlive(), "stopped when the run ended");
  }

  @Test
  void jvmProxyPointsTheJvmAtTheSessionDuringTheTestOnly() {
    String before = System.getProperty("http.proxyPort");
    EngineExecutionResults results = run(MatgtoExtension.LOCAL_SERVER, JvmProxyFixture.class);
    assertEquals(1, results.testEvents().succeeded().count(), failures(results));
    assertEquals(1L, RECORDED.get("jvm"), "HttpClient.newHttpClient() went through the session");
    assertEquals(before, System.getProperty("http.proxyPort"), "restored after the test");
    assertNull(System.getProperty("http.nonProxyHosts"));
  }

  @Test
  void aLocalServerParameterWithoutOneSaysHowToGetIt() {
    EngineExecutionResults results = run(null, NoLocalServer.class);
    assertEquals(1, results.testEvents().failed().count());
    assertTrue(failures(results).contains("@MatgtoLocalServer"), failures(results));
  }
}
