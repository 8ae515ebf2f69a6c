package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.GetStatusResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The public launcher: binary, ready file, stop, errors. */
class LocalServerTest {
  @Test
  void startsOnPortsTheServerPicksAndStopsOnClose() throws Exception {
    LocalServer server = LocalServer.start();
    Path cassettes = server.cassetteDir();
    try (MatgtoClient c = server.client()) {
      GetStatusResponse st = c.status();
      assertEquals(server.proxyAddress(), st.getProxyAddress(), "proxy from the ready file");
      assertEquals(server.controlAddress(), st.getControlAddress(), "control from the ready file");
      assertEquals(server.process().pid(), server.pid());
      assertTrue(Files.isDirectory(cassettes));
    } finally {
      server.close();
    }
    assertFalse(server.process().isAlive(), "close() stops the server");
    assertFalse(Files.exists(cassettes), "close() removes the temporary cassette folder");
    server.close(); // idempotent
  }

  @Test
  void keepsANamedCassetteFolder(@TempDir Path dir) throws Exception {
    try (LocalServer server = LocalServer.builder().cassetteDir(dir).start();
        MatgtoClient c = server.client()) {
      c.startRecording("kept/one");
      c.stopRecording();
    }
    assertTrue(Files.exists(dir.resolve("kept").resolve("one.pb")), "the cassette stays");
  }

  @Test
  void aMissingBinaryIsNamed(@TempDir Path dir) {
    Path missing = dir.resolve("no-matgto-here");
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> LocalServer.builder().binary(missing).start());
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("the builder"), e.getMessage());
    // Without an explicit binary the environment's (run-tests.sh sets MATGTO_BIN) is found.
    assertTrue(Files.isExecutable(LocalServer.findBinary(null)));
  }

  @Test
  void anEarlyExitReportsTheServersOutput() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> LocalServer.builder().args("--no-such-flag").start());
    assertTrue(e.getMessage().contains("before writing its ready file"), e.getMessage());
    assertTrue(e.getMessage().contains("no-such-flag"), e.getMessage());
  }
}
