package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.GetStatusRequest;
import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.ProxyControlGrpc;
import dev.matgto.v1.ReplayRequest;
import dev.matgto.v1.ReplayResponse;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.StopRecordingRequest;
import dev.matgto.v1.StopRecordingResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The api_version check, directly and against a fake server on 127.0.0.1. */
class ApiVersionTest {

  private static GetStatusResponse status(int apiVersion) {
    return GetStatusResponse.newBuilder().setApiVersion(apiVersion).setVersion("7.1.0").build();
  }

  @Test
  void versionOneIsAccepted() {
    assertDoesNotThrow(() -> MatgtoClient.checkCompatible(status(1), "h:1"));
  }

  @Test
  void otherVersionsAreRefusedWithAClearMessage() {
    IncompatibleServerException e =
        assertThrows(
            IncompatibleServerException.class,
            () -> MatgtoClient.checkCompatible(status(2), "10.0.0.1:8889"));
    assertEquals(2, e.getServerApiVersion());
    assertEquals("7.1.0", e.getServerVersion());
    assertEquals(Status.Code.FAILED_PRECONDITION, e.getCode());
    String m = e.getMessage();
    assertTrue(m.contains("10.0.0.1:8889"), m);
    assertTrue(m.contains("control API version 2"), m);
    assertTrue(m.contains("only speaks version 1"), m);
    assertTrue(m.contains("7.1.0"), m);
  }

  @Test
  void missingVersionIsRefused() {
    IncompatibleServerException e =
        assertThrows(IncompatibleServerException.class,
            () -> MatgtoClient.checkCompatible(GetStatusResponse.getDefaultInstance(), "h:1"));
    assertEquals(0, e.getServerApiVersion());
    assertTrue(e.getMessage().contains("none reported"), e.getMessage());
  }

  @Test
  void unsignedVersionIsReportedUnsigned() {
    IncompatibleServerException e =
        assertThrows(IncompatibleServerException.class,
            () -> MatgtoClient.checkCompatible(status(-1), "h:1"));
    assertEquals(4294967295L, e.getServerApiVersion());
  }

  /** A control service answering with a chosen api_version and counting calls. */
  static final class Fake extends ProxyControlGrpc.ProxyControlImplBase {
    final int apiVersion;
    final AtomicInteger statusCalls = new AtomicInteger();
    final AtomicInteger replayCalls = new AtomicInteger();

    Fake(int apiVersion) {
      this.apiVersion = apiVersion;
    }

    @Override
    public void getStatus(GetStatusRequest req, StreamObserver<GetStatusResponse> out) {
      statusCalls.incrementAndGet();
      out.onNext(status(apiVersion));
      out.onCompleted();
    }

    @Override
    public void replay(ReplayRequest req, StreamObserver<ReplayResponse> out) {
      replayCalls.incrementAndGet();
      out.onNext(
          ReplayResponse.newBuilder()
              .setSession(SessionInfo.newBuilder().setCassette(req.getName()))
              .build());
      out.onCompleted();
    }

    @Override
    public void stopRecording(
        StopRecordingRequest req, StreamObserver<StopRecordingResponse> out) {
      out.onError(Status.DATA_LOSS.withDescription("cassette x is truncated").asRuntimeException());
    }
  }

  private static Server serve(Fake fake) throws Exception {
    return NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
        .addService(fake)
        .build()
        .start();
  }

  private static String address(Server s) {
    return "127.0.0.1:" + s.getPort();
  }

  @Test
  void firstCallToAnIncompatibleServerIsRefusedBeforeItRuns() throws Exception {
    Fake fake = new Fake(2);
    Server s = serve(fake);
    try (MatgtoClient c = MatgtoClient.connect(address(s))) {
      IncompatibleServerException e =
          assertThrows(IncompatibleServerException.class, () -> c.replay("x"));
      assertTrue(e.getMessage().contains("control API version 2"), e.getMessage());
      assertEquals(0, fake.replayCalls.get(), "the refused call never reached the server");
      assertThrows(IncompatibleServerException.class, c::status);
      assertThrows(IncompatibleServerException.class, () -> c.replay("y"));
      assertEquals(0, fake.replayCalls.get());
    } finally {
      s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void compatibleServerIsCheckedOnceAndErrorsAreMapped() throws Exception {
    Fake fake = new Fake(1);
    Server s = serve(fake);
    try (MatgtoClient c = MatgtoClient.connect(address(s))) {
      assertEquals("x", c.replay("x").getCassette());
      assertEquals("y", c.replay("y").getCassette());
      assertEquals(1, fake.statusCalls.get(), "the version is checked on first use only");
      assertEquals(2, fake.replayCalls.get());
      CorruptCassetteException e = assertThrows(CorruptCassetteException.class, c::stopRecording);
      assertEquals("cassette x is truncated", e.getServerMessage());
      assertEquals(Status.Code.DATA_LOSS, e.getCode());
      UnimplementedException u = assertThrows(UnimplementedException.class, c::caCertificatePem);
      assertEquals(Status.Code.UNIMPLEMENTED, u.getCode());
    } finally {
      s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
