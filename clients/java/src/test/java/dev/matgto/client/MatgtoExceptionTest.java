package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.grpc.Status;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class MatgtoExceptionTest {
  private static final Map<Status.Code, Class<? extends MatgtoException>> TYPES =
      Map.of(
          Status.Code.NOT_FOUND, CassetteNotFoundException.class,
          Status.Code.INVALID_ARGUMENT, InvalidArgumentException.class,
          Status.Code.FAILED_PRECONDITION, FailedPreconditionException.class,
          Status.Code.DATA_LOSS, CorruptCassetteException.class,
          Status.Code.UNAVAILABLE, ServerUnavailableException.class,
          Status.Code.UNIMPLEMENTED, UnimplementedException.class,
          Status.Code.DEADLINE_EXCEEDED, DeadlineExceededException.class,
          Status.Code.RESOURCE_EXHAUSTED, ResourceExhaustedException.class,
          Status.Code.UNAUTHENTICATED, UnauthenticatedException.class,
          Status.Code.PERMISSION_DENIED, PermissionDeniedException.class);

  @ParameterizedTest
  @EnumSource(value = Status.Code.class, names = "OK", mode = EnumSource.Mode.EXCLUDE)
  void everyCodeMapsToItsTypeWithCodeAndMessage(Status.Code code) {
    var grpc = code.toStatus().withDescription("server says " + code).asRuntimeException();
    MatgtoException e = MatgtoException.fromGrpc(grpc);
    assertEquals(TYPES.getOrDefault(code, MatgtoException.class), e.getClass());
    assertEquals(code, e.getCode());
    assertEquals("server says " + code, e.getServerMessage());
    assertEquals(code.name() + ": server says " + code, e.getMessage());
    assertSame(grpc, e.getCause());
  }

  @Test
  void missingDescriptionGivesEmptyServerMessage() {
    MatgtoException e = MatgtoException.fromGrpc(Status.NOT_FOUND.asRuntimeException());
    assertEquals("", e.getServerMessage());
    assertEquals("NOT_FOUND", e.getMessage());
  }

  @Test
  void hostPortParsing() {
    assertEquals(new InetSocketAddress("127.0.0.1", 8888), HostPort.parse("127.0.0.1:8888", "x"));
    assertEquals(new InetSocketAddress("::1", 9), HostPort.parse("[::1]:9", "x"));
    assertEquals(new InetSocketAddress("127.0.0.2", 7), HostPort.parse("0.0.0.0:7", "127.0.0.2"));
    assertEquals("127.0.0.1", HostPort.hostOf("127.0.0.1:8889"));
    assertEquals("::1", HostPort.hostOf("[::1]:8889"));
    assertEquals("h", HostPort.hostOf("dns:///h:1"));
  }

  @Test
  void modeMapsBothWays() {
    for (Mode m : Mode.values()) {
      assertSame(m, Mode.fromProto(m.toProto()));
      assertEquals(m.name(), m.toProto().name());
    }
  }

  @Test
  void defaultAddressFollowsPropertyThenEnvThenDefault() {
    String before = System.getProperty(MatgtoClient.ADDRESS_PROPERTY);
    try {
      System.setProperty(MatgtoClient.ADDRESS_PROPERTY, " 127.0.0.9:1234 ");
      assertEquals("127.0.0.9:1234", MatgtoClient.defaultAddress());
      System.clearProperty(MatgtoClient.ADDRESS_PROPERTY);
      String env = System.getenv(MatgtoClient.ADDRESS_ENV);
      String expected = env == null || env.isBlank() ? MatgtoClient.DEFAULT_ADDRESS : env.trim();
      assertEquals(expected, MatgtoClient.defaultAddress());
      try (MatgtoClient c = MatgtoClient.connect()) {
        assertEquals(expected, c.target());
      }
    } finally {
      if (before == null) {
        System.clearProperty(MatgtoClient.ADDRESS_PROPERTY);
      } else {
        System.setProperty(MatgtoClient.ADDRESS_PROPERTY, before);
      }
    }
  }
}
