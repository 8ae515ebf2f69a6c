package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.CompositeChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.TlsChannelCredentials;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Connection options without a matgto server: environment, precedence, refusals, the header. */
class ConnectionOptionsTest {
  private static ConnectionOptions env(Map<String, String> vars) {
    return ConnectionOptions.fromEnvironment(vars::get);
  }

  @Test
  void nothingConfiguredIsPlaintextWithoutToken() {
    ConnectionOptions o = env(Map.of());
    assertFalse(o.isTls());
    assertFalse(o.hasToken());
    assertTrue(o.channelCredentials("127.0.0.1:1") instanceof InsecureChannelCredentials);
  }

  @Test
  void tokenFromEnvironmentAndOverride() {
    ConnectionOptions o = env(Map.of("MATGTO_TOKEN", "from-env"));
    assertTrue(o.hasToken());
    assertTrue(o.channelCredentials("127.0.0.1:1") instanceof CompositeChannelCredentials);
    assertFalse(o.withToken("").hasToken());
    assertFalse(o.withToken(null).hasToken());
    assertThrows(IllegalArgumentException.class, () -> o.withToken("a\nb"));
  }

  @Test
  void caFromEnvironmentTurnsTlsOn() {
    ConnectionOptions o = env(Map.of("MATGTO_TLS_CA", "/etc/ca.pem"));
    assertTrue(o.isTls());
    assertEquals(Path.of("/etc/ca.pem"), o.tlsCa());
    assertNull(o.clientCertificate());
    ConnectionOptions cert =
        ConnectionOptions.none().withClientCertificate(Path.of("c.pem"), Path.of("c.key"));
    assertTrue(cert.isTls());
    assertTrue(ConnectionOptions.none().withTls().isTls());
    assertTrue(
        ConnectionOptions.none().withTls().channelCredentials("h:1")
            instanceof TlsChannelCredentials);
  }

  @Test
  void plaintextIsExplicitAndDropsTlsFromEnvironment() {
    ConnectionOptions o =
        env(Map.of("MATGTO_TLS_CA", "/nonexistent/ca.pem", "MATGTO_TOKEN", "t")).plaintext();
    assertFalse(o.isTls());
    assertTrue(o.hasToken());
    // A token may then go to a remote host.
    assertTrue(o.channelCredentials("central:8889") instanceof CompositeChannelCredentials);
  }

  @Test
  void aTokenIsNotSentInPlaintextToARemoteHost() {
    ConnectionOptions o = ConnectionOptions.none().withToken("t");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> o.channelCredentials("central:8889"));
    assertTrue(e.getMessage().contains("refusing to send the token in plaintext to central:8889"));
    assertThrows(
        IllegalArgumentException.class, () -> MatgtoClient.connect("10.1.2.3:8889", o));
    for (String target : List.of("127.0.0.1:1", "localhost:1", "[::1]:1", "dns:///localhost:1")) {
      assertTrue(ConnectionOptions.isLoopbackTarget(target), target);
    }
    assertFalse(ConnectionOptions.isLoopbackTarget("matgto.internal:8889"));
    assertFalse(ConnectionOptions.isLoopbackTarget("10.0.0.1:8889"));
    assertFalse(ConnectionOptions.isLoopbackTarget("cafe:8889")); // a name, not resolved
    assertTrue(ConnectionOptions.isLoopbackTarget("127.0.0.2:8889"));
  }

  @Test
  void certificateNeedsItsKeyAndUnreadableFilesAreNamed(@TempDir Path dir) {
    ConnectionOptions certOnly = env(Map.of("MATGTO_TLS_CERT", "/c.pem"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> certOnly.channelCredentials("h:1"));
    assertTrue(e.getMessage().contains("needs its key"), e.getMessage());
    ConnectionOptions missing = env(Map.of("MATGTO_TLS_CA", dir.resolve("nope.pem").toString()));
    e = assertThrows(IllegalArgumentException.class, () -> missing.channelCredentials("h:1"));
    assertTrue(e.getMessage().contains("nope.pem"), e.getMessage());
    assertTrue(e.getMessage().contains("$MATGTO_TLS_CA"), e.getMessage());
  }

  @Test
  void anHttpsAddressMeansTls() {
    try (MatgtoClient c =
        MatgtoClient.connect("https://central.example:8889/", ConnectionOptions.none())) {
      assertTrue(c.isTls());
      assertEquals("central.example:8889", c.target());
    }
    try (MatgtoClient c = MatgtoClient.connect("http://127.0.0.1:1", ConnectionOptions.none())) {
      assertFalse(c.isTls());
      assertEquals("127.0.0.1:1", c.target());
    }
  }

  @Test
  void toStringNeverShowsTheToken() {
    assertFalse(ConnectionOptions.none().withToken("s3cret").toString().contains("s3cret"));
  }

  @Test
  void everyCallCarriesTheBearerHeaderOnAPlaintextLoopbackChannel() throws Exception {
    try (FakeControlServer fake = new FakeControlServer();
        MatgtoClient client =
            MatgtoClient.connect(fake.address(), ConnectionOptions.none().withToken("tok-123"))) {
      client.status();
      client.status();
      assertEquals(
          List.of(Optional.of("Bearer tok-123"), Optional.of("Bearer tok-123")),
          fake.authorizations);
    }
    try (FakeControlServer fake = new FakeControlServer();
        MatgtoClient client = MatgtoClient.connect(fake.address(), ConnectionOptions.none())) {
      client.status();
      assertEquals(List.of(Optional.empty()), fake.authorizations);
    }
  }
}
