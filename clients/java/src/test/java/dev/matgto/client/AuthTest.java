package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.matgto.v1.GetStatusResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A secured control API against real servers: TLS, mTLS and scoped bearer tokens. One TLS and one
 * mTLS server (same token file) serve the class; the shutdown test starts its own. The CA, the
 * server certificate (127.0.0.1, localhost) and the client certificate are made at test time with
 * the {@code openssl} CLI.
 */
class AuthTest {
  private static final Map<String, String> TOKENS =
      Map.of(
          "read", "read-token-0123456789",
          "write", "write-token-0123456789",
          "admin", "admin-token-0123456789",
          "team", "team-a-token-0123456789");

  private static Path pki;
  private static LocalServer tls;
  private static LocalServer mtls;

  @BeforeAll
  static void start() throws Exception {
    pki = Files.createTempDirectory("matgto-java-auth-");
    assumeTrue(
        makePki(pki), "openssl is not installed: the TLS/mTLS tests need it to make certificates");
    tls = secured(false);
    mtls = secured(true);
  }

  @AfterAll
  static void stop() {
    for (LocalServer s : new LocalServer[] {tls, mtls}) {
      if (s != null) {
        s.close();
      }
    }
    if (pki != null) { // keys and tokens: leave nothing in /tmp
      try (java.util.stream.Stream<Path> files = Files.walk(pki)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      } catch (IOException e) {
        // best effort
      }
    }
  }

  private static boolean makePki(Path dir) throws IOException, InterruptedException {
    List<String> ec = List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes");
    if (!openssl(dir, concat(List.of("req", "-x509"), ec, List.of("-keyout", "ca.key", "-out",
        "ca.pem", "-days", "2", "-subj", "/CN=matgto control test CA", "-addext",
        "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")))) {
      return false;
    }
    Map<String, String> exts =
        Map.of(
            "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            "client", "extendedKeyUsage=clientAuth\n");
    for (var e : exts.entrySet()) {
      String n = e.getKey();
      Files.writeString(dir.resolve(n + ".ext"), e.getValue());
      assertTrue(openssl(dir, concat(List.of("req"), ec, List.of("-keyout", n + ".key", "-out",
          n + ".csr", "-subj", "/CN=matgto test " + n))));
      assertTrue(openssl(dir, List.of("x509", "-req", "-in", n + ".csr", "-CA", "ca.pem",
          "-CAkey", "ca.key", "-CAcreateserial", "-out", n + ".pem", "-days", "2", "-extfile",
          n + ".ext")));
    }
    Files.writeString(
        dir.resolve("tokens"),
        "# token scope [name-prefix]\n"
            + TOKENS.get("read") + " read\n"
            + TOKENS.get("write") + " write\n"
            + TOKENS.get("admin") + " admin\n"
            + TOKENS.get("team") + " write team-a/\n",
        StandardCharsets.UTF_8);
    return true;
  }

  @SafeVarargs
  private static List<String> concat(List<String>... parts) {
    List<String> all = new ArrayList<>();
    for (List<String> p : parts) {
      all.addAll(p);
    }
    return all;
  }

  /** Runs openssl in dir; false when it is not installed, an assertion error when it fails. */
  private static boolean openssl(Path dir, List<String> args)
      throws IOException, InterruptedException {
    List<String> cmd = concat(List.of("openssl"), args);
    Process p;
    try {
      p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (IOException notInstalled) {
      return false;
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), () -> String.join(" ", cmd) + ":\n" + out);
    return true;
  }

  private static LocalServer secured(boolean withClientCa) throws Exception {
    List<String> args = new ArrayList<>(List.of(
        "--control-tls-cert", pki.resolve("server.pem").toString(),
        "--control-tls-key", pki.resolve("server.key").toString(),
        "--auth-tokens", pki.resolve("tokens").toString()));
    if (withClientCa) {
      args.addAll(List.of("--control-client-ca", pki.resolve("ca.pem").toString()));
    }
    return LocalServer.builder().args(args.toArray(String[]::new)).start();
  }

  private static ConnectionOptions options(String scope) {
    return ConnectionOptions.none()
        .withToken(TOKENS.getOrDefault(scope, scope))
        .withTlsCa(pki.resolve("ca.pem"));
  }

  private static ConnectionOptions withCert(String scope) {
    return options(scope).withClientCertificate(pki.resolve("client.pem"), pki.resolve("client.key"));
  }

  private static MatgtoClient connect(LocalServer s, ConnectionOptions o) {
    return MatgtoClient.connect(s.controlAddress(), Duration.ofSeconds(10), o);
  }

  private static void record(MatgtoClient c, String name) {
    try (Session s = c.session(name).mode(Mode.RECORD).open()) {
      assertTrue(s.id().startsWith("s-"), s.id());
    }
  }

  @Test
  void readTokenListsButMayNotRecord() {
    try (MatgtoClient c = connect(tls, options("read"))) {
      assertTrue(c.isTls());
      GetStatusResponse st = c.status();
      assertEquals(1, st.getApiVersion());
      c.listCassettes();
      PermissionDeniedException e =
          assertThrows(
              PermissionDeniedException.class,
              () -> c.startRecording("auth/read-may-not", CassetteOptions.none(),
                  SessionOptions.newSession()));
      assertEquals(io.grpc.Status.Code.PERMISSION_DENIED, e.getCode());
      assertThrows(PermissionDeniedException.class, () -> c.deleteCassette("auth/read-may-not"));
    }
  }

  @Test
  void writeTokenRecordsButMayNotShutDown() {
    try (MatgtoClient c = connect(tls, options("write"))) {
      record(c, "auth/written");
      assertThrows(PermissionDeniedException.class, c::shutdown);
    }
    assertTrue(tls.process().isAlive());
    // What write recorded, read replays (and may stop: the session only replays).
    try (MatgtoClient c = connect(tls, options("read"));
        Session s = c.session("auth/written").mode(Mode.REPLAY).open()) {
      assertEquals(dev.matgto.v1.Mode.REPLAY, s.info().getMode());
    }
  }

  @Test
  void namePrefixLimitsAToken() {
    try (MatgtoClient c = connect(tls, options("team"))) {
      record(c, "team-a/ok");
      assertThrows(
          PermissionDeniedException.class,
          () -> c.startRecording("team-b/not-mine", CassetteOptions.none(),
              SessionOptions.newSession()));
    }
  }

  @Test
  void wrongOrMissingTokenIsUnauthenticated() {
    try (MatgtoClient c = connect(tls, options("not-a-token"))) {
      UnauthenticatedException e = assertThrows(UnauthenticatedException.class, c::status);
      assertEquals(io.grpc.Status.Code.UNAUTHENTICATED, e.getCode());
    }
    try (MatgtoClient c = connect(tls, options("read").withToken(null))) {
      assertThrows(UnauthenticatedException.class, c::listCassettes);
    }
  }

  @Test
  void watchingEventsNeedsAToken() {
    try (MatgtoClient c = connect(tls, options("read").withToken(null))) {
      assertThrows(UnauthenticatedException.class, c::watchEvents);
    }
    try (MatgtoClient c = connect(tls, options("read"));
        EventStream events = c.watchEvents()) { // a read token may watch
      assertFalse(events.isClosed());
    }
    try (MatgtoClient c = connect(tls, options("team"))) { // a prefix token: only its cassettes
      assertThrows(PermissionDeniedException.class, () -> c.watchEvents(null, "team-b/x"));
    }
  }

  @Test
  void plaintextClientCannotTalkToATlsServer() {
    try (MatgtoClient c =
        MatgtoClient.connect(
            tls.controlAddress(), Duration.ofSeconds(5), ConnectionOptions.none().withToken("x"))) {
      assertThrows(ServerUnavailableException.class, c::status);
    }
  }

  @Test
  void mtlsRefusesAClientWithoutCertificate() {
    try (MatgtoClient c = MatgtoClient.connect(mtls.controlAddress(), Duration.ofSeconds(5),
        options("admin"))) {
      assertThrows(ServerUnavailableException.class, c::status);
    }
  }

  @Test
  void mtlsAcceptsAClientCertificateAndScopesStillApply() {
    try (MatgtoClient c = connect(mtls, withCert("read"))) {
      c.listCassettes();
      assertThrows(
          PermissionDeniedException.class,
          () -> c.startRecording("auth/mtls-read", CassetteOptions.none(),
              SessionOptions.newSession()));
    }
    try (MatgtoClient c = connect(mtls, withCert("write"))) {
      record(c, "auth/mtls-written");
    }
    try (MatgtoClient c = connect(mtls, withCert("wrong"))) {
      assertThrows(UnauthenticatedException.class, c::status);
    }
  }

  @Test
  void adminTokenShutsTheServerDown() throws Exception {
    try (LocalServer own = secured(true);
        MatgtoClient c = connect(own, withCert("admin"))) {
      c.shutdown();
      assertTrue(own.waitForExit(Duration.ofSeconds(15)), "the server did not exit");
      assertEquals(0, own.process().exitValue());
    }
  }
}
