package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * The control channel never goes through the JVM's proxy: with every proxy property pointing at a
 * dead proxy (port 9) and no host exempt, the client still reaches a real server. grpc-java asks
 * the default ProxySelector otherwise, which would send it to the dead proxy.
 */
@Isolated("sets JVM-wide proxy properties")
class ControlChannelProxyTest extends ServerTestBase {
  private static final List<String> KEYS = List.of("http.proxyHost", "http.proxyPort",
      "https.proxyHost", "https.proxyPort", "http.nonProxyHosts", "socksProxyHost",
      "socksProxyPort");
  private final Map<String, String> saved = new HashMap<>();

  @BeforeEach
  void deadProxy() {
    KEYS.forEach(k -> saved.put(k, System.getProperty(k)));
    System.setProperty("http.proxyHost", "127.0.0.1");
    System.setProperty("http.proxyPort", "9");
    System.setProperty("https.proxyHost", "127.0.0.1");
    System.setProperty("https.proxyPort", "9");
    System.setProperty("http.nonProxyHosts", ""); // empty: loopback is proxied too
  }

  @AfterEach
  void restore() {
    saved.forEach((k, v) -> {
      if (v == null) {
        System.clearProperty(k);
      } else {
        System.setProperty(k, v);
      }
    });
  }

  @Test
  void aFreshClientIgnoresTheDeadProxy() {
    try (MatgtoClient c = MatgtoClient.connect(server.controlAddress())) {
      assertEquals(server.proxyAddress(), c.status().getProxyAddress());
      c.startRecording("control/no-proxy");
      c.stopRecording();
    }
  }
}
