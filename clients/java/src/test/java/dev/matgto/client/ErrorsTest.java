package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.net.ServerSocket;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each documented error code, produced by the real server, arrives as its exception type. */
class ErrorsTest extends ServerTestBase {

  @Test
  void replayOfUnknownCassetteIsNotFound() {
    CassetteNotFoundException e =
        assertThrows(CassetteNotFoundException.class, () -> client.replay("nope"));
    assertEquals(Status.Code.NOT_FOUND, e.getCode());
    assertFalse(e.getServerMessage().isBlank(), "the server explains NOT_FOUND");
    assertTrue(e.getMessage().startsWith("NOT_FOUND"), e.getMessage());
    assertFalse(client.status().hasSession(), "a failed replay leaves no session");
  }

  @Test
  void dotDotNameIsInvalidForEveryCall() {
    InvalidArgumentException e =
        assertThrows(InvalidArgumentException.class, () -> client.replay("../x"));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getCode());
    assertFalse(e.getServerMessage().isBlank(), "the server explains INVALID_ARGUMENT");
    assertThrows(InvalidArgumentException.class, () -> client.startRecording("../x"));
    assertThrows(InvalidArgumentException.class, () -> client.useCassette("../x", Mode.AUTO));
    assertFalse(client.status().hasSession());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "/abs", "a/../b", "sp ace", "tab\there", "q?x", "back\\slash"})
  void badNamesAreInvalid(String name) {
    assertThrows(InvalidArgumentException.class, () -> client.startRecording(name),
        "startRecording(\"" + name + "\")");
  }

  @Test
  void allowedPunctuationIsAccepted() {
    // The proto allows [A-Za-z0-9._-+=@,[]] and "/".
    String name = "ok/A-z_0.9+=@,[1]";
    assertEquals(name, client.startRecording(name).getCassette());
  }

  @Test
  void stopWhileIdleIsFailedPrecondition() {
    FailedPreconditionException e =
        assertThrows(FailedPreconditionException.class, () -> client.stopRecording());
    assertEquals(Status.Code.FAILED_PRECONDITION, e.getCode());
  }

  @Test
  void corruptCassetteIsDataLoss() throws Exception {
    client.startRecording("errors/good");
    String saved = client.stopRecording().getSavedPath();
    assertFalse(saved.isEmpty(), "saved_path of an (empty) recording");
    Path good = Paths.get(saved);
    assertTrue(Files.exists(good), "saved file " + good);
    String fileName = good.getFileName().toString();
    assertTrue(fileName.startsWith("good"), "cassette file named after the cassette: " + fileName);
    String suffix = fileName.substring("good".length());

    byte[] garbage = new byte[64];
    Arrays.fill(garbage, (byte) 0xff);
    Files.write(good.resolveSibling("corrupt" + suffix), garbage);

    CorruptCassetteException e =
        assertThrows(CorruptCassetteException.class, () -> client.replay("errors/corrupt"));
    assertEquals(Status.Code.DATA_LOSS, e.getCode());
  }

  @Test
  void unreachableServerIsUnavailable() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    try (MatgtoClient dead = MatgtoClient.connect("127.0.0.1:" + port, Duration.ofSeconds(10))) {
      ServerUnavailableException e =
          assertThrows(ServerUnavailableException.class, dead::status);
      assertEquals(Status.Code.UNAVAILABLE, e.getCode());
      assertThrows(ServerUnavailableException.class, () -> dead.replay("x"));
    }
  }
}
