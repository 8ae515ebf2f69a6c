package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.matgto.v1.RenewSessionRequest;
import dev.matgto.v1.ReplayRequest;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import dev.matgto.v1.StartRecordingRequest;
import dev.matgto.v1.StopRecordingRequest;
import dev.matgto.v1.UseCassetteRequest;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The session API's plumbing against {@link FakeControlServer}: the fields each call sends, lease
 * renewal, a lost session. No matgto binary needed.
 */
class SessionPlumbingTest {
  private FakeControlServer fake;
  private MatgtoClient client;

  @BeforeEach
  void start() throws Exception {
    fake = new FakeControlServer();
    client = MatgtoClient.connect(fake.address());
  }

  @AfterEach
  void stop() throws Exception {
    client.close();
    fake.close();
  }

  static void waitFor(String what, Duration timeout, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      Thread.sleep(20);
    }
  }

  @Test
  void sessionOptionsRefuseContradictions() {
    assertThrows(IllegalArgumentException.class,
        () -> SessionOptions.builder().session("s-1").newSession(true).build());
    assertThrows(IllegalArgumentException.class,
        () -> SessionOptions.builder().lease(Duration.ofSeconds(5)).build());
    assertThrows(IllegalArgumentException.class,
        () -> SessionOptions.builder().session("s-1").owner("me").build());
    assertThrows(IllegalArgumentException.class,
        () -> SessionOptions.builder().lease(Duration.ZERO));
    assertEquals(SessionOptions.defaultSession(), SessionOptions.builder().build());
    assertEquals(SessionOptions.defaultSession(), SessionOptions.existing(""));
    SessionOptions n = SessionOptions.newSession(Duration.ofSeconds(5), null);
    assertTrue(n.isNewSession());
    assertEquals(Duration.ofSeconds(5), n.lease().orElseThrow());
    assertEquals("", n.owner());
    assertFalse(SessionOptions.newSession().lease().isPresent());
  }

  @Test
  void everyCassetteCallCarriesTheSessionFields() {
    SessionOptions fresh = SessionOptions.newSession(Duration.ofMillis(1500), "me pid 1");
    SessionInfo a = client.startRecording("a", CassetteOptions.none(), fresh);
    SessionInfo b = client.replay("b", CassetteOptions.none(), SessionOptions.existing(a.getId()));
    client.useCassette("c", Mode.AUTO, CassetteOptions.none(), fresh);
    client.useCassette("d", Mode.RECORD); // the default session, as before

    StartRecordingRequest start = fake.requests(StartRecordingRequest.class).get(0);
    assertTrue(start.getNewSession());
    assertEquals("", start.getSession());
    assertEquals(1, start.getLease().getSeconds());
    assertEquals(500_000_000, start.getLease().getNanos());
    assertEquals("me pid 1", start.getOwner());
    assertTrue(a.getId().startsWith("s-"), a.getId());

    ReplayRequest replay = fake.requests(ReplayRequest.class).get(0);
    assertFalse(replay.getNewSession());
    assertEquals(a.getId(), replay.getSession());
    assertFalse(replay.hasLease(), "no lease for an existing session");
    assertEquals("", replay.getOwner());
    assertEquals("default", b.getId());

    List<UseCassetteRequest> uses = fake.requests(UseCassetteRequest.class);
    assertTrue(uses.get(0).getNewSession());
    assertEquals(dev.matgto.v1.Mode.AUTO, uses.get(0).getMode());
    assertEquals("me pid 1", uses.get(0).getOwner());
    assertEquals(UseCassetteRequest.newBuilder().setName("d")
        .setMode(dev.matgto.v1.Mode.RECORD).build(), uses.get(1), "nothing else is set");
  }

  @Test
  void stopAndRenewNameTheSession() {
    SessionInfo s = client.useCassette("x", Mode.AUTO, CassetteOptions.none(),
        SessionOptions.newSession(Duration.ofSeconds(30), "o"));
    Instant renewed = client.renewSession(s.getId());
    assertNotNull(renewed);
    assertEquals(s.getId(), fake.requests(RenewSessionRequest.class).get(0).getSession());

    SessionSummary summary = client.stop(s.getId());
    assertEquals("stopped", summary.getEndReason());
    assertEquals(s.getId(), fake.requests(StopRecordingRequest.class).get(0).getSession());

    SessionNotFoundException gone =
        assertThrows(SessionNotFoundException.class, () -> client.stop(s.getId()));
    assertEquals(s.getId(), gone.getSessionId());
    assertEquals(io.grpc.Status.Code.NOT_FOUND, gone.getCode());
    assertThrows(SessionNotFoundException.class, () -> client.renewSession(s.getId()));

    client.useCassette("y", Mode.AUTO);
    client.stop("default");
    assertEquals("", fake.requests(StopRecordingRequest.class).get(2).getSession(),
        "\"default\" is the default session: an empty id on the wire");
  }

  @Test
  void aSessionRenewsEveryThirdOfItsLeaseUntilClosed() throws Exception {
    Session s = client.session("renewed").lease(Duration.ofMillis(1200)).owner("t").open();
    assertEquals(Duration.ofMillis(1200), s.lease());
    waitFor("4 renewals", Duration.ofSeconds(10), () -> fake.renewals.get() >= 4);
    List<Long> at = fake.renewalNanos;
    double meanMillis = (at.get(3) - at.get(0)) / 3 / 1e6;
    assertTrue(meanMillis > 300 && meanMillis < 700,
        "renewals every lease/3 (400 ms), measured " + meanMillis + " ms");
    assertTrue(s.renewals() >= 3, "the session counts its renewals: " + s.renewals());
    assertTrue(s.leaseExpiresAt().isPresent());

    Thread renewer = Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("matgto-lease-renewal")).findFirst().orElseThrow();
    assertTrue(renewer.isDaemon(), "renewal must not keep the JVM alive");

    s.close();
    assertTrue(s.isStopped());
    assertEquals(s.id(), fake.requests(StopRecordingRequest.class).get(0).getSession());
    int after = fake.renewals.get();
    Thread.sleep(1000);
    assertEquals(after, fake.renewals.get(), "no renewal after close()");
    assertEquals("stopped", s.stop().getEndReason(), "stop() again returns the same summary");
  }

  @Test
  void sessionDefaultsAndAccessors() {
    try (Session s = client.openSession("acc", Mode.AUTO)) {
      UseCassetteRequest req = fake.requests(UseCassetteRequest.class).get(0);
      assertTrue(req.getNewSession());
      assertEquals(30, req.getLease().getSeconds(), "default lease 30 s");
      assertTrue(req.getOwner().contains("pid " + ProcessHandle.current().pid()), req.getOwner());
      assertEquals(new InetSocketAddress("127.0.0.1", 1), s.proxyAddress());
      assertEquals(URI.create("http://127.0.0.1:1"), s.proxyUri());
      assertEquals("http://" + s.id() + "@127.0.0.1:8888", s.proxyUrl());
      assertEquals(Mode.RECORD, s.mode(), "AUTO resolved by the server");
      assertTrue(s.openedAt().isPresent());
      assertEquals(s.id(), s.status().orElseThrow().getId());
      assertEquals("Basic " + java.util.Base64.getEncoder().encodeToString((s.id() + ":").getBytes()),
          s.proxyAuthorization());
    }
  }

  @Test
  void aRenewalAnsweringNotFoundLosesTheSessionAndCloseSaysSo() throws Exception {
    Session s = client.session("lost").lease(Duration.ofSeconds(1)).owner("t").open();
    fake.end(s.id(), "lease-expired");
    waitFor("the session to be lost", Duration.ofSeconds(5), s::isLost);
    int renewCalls = fake.requests(RenewSessionRequest.class).size();
    Thread.sleep(800);
    assertEquals(renewCalls, fake.requests(RenewSessionRequest.class).size(),
        "renewing stops once the session is lost");

    SessionLostException e = assertThrows(SessionLostException.class, s::close);
    assertEquals(s.id(), e.getSessionId());
    assertTrue(e.getMessage().contains("lease-expired"), e.getMessage());
    assertTrue(e.getMessage().contains(s.id()), e.getMessage());
    assertTrue(e.getMessage().contains("/cassettes/lost.pb"), e.getMessage());
    assertEquals("lease-expired", e.getEndedSummary().orElseThrow().getEndReason());
    assertTrue(fake.requests(StopRecordingRequest.class).isEmpty(),
        "nothing to stop: the server already ended it");
    assertThrows(SessionLostException.class, s::close, "close() keeps reporting it");
  }

  @Test
  void stopAfterSomeoneElseStoppedItReturnsTheirSummary() {
    Session s = client.session("other").lease(Duration.ofHours(1)).open();
    fake.end(s.id(), "stopped");
    SessionSummary summary = s.stop();
    assertEquals("stopped", summary.getEndReason());
    assertEquals("other", summary.getSession().getCassette());
    assertFalse(s.isLost());
  }

  @Test
  void sessionInfosConvertTimes() {
    SessionInfo info = SessionInfo.newBuilder()
        .setOpenedAt(Timestamp.newBuilder().setSeconds(100).setNanos(5))
        .setAge(com.google.protobuf.Duration.newBuilder().setSeconds(2))
        .setLease(com.google.protobuf.Duration.newBuilder().setSeconds(30))
        .setLeaseExpiresAt(Timestamp.newBuilder().setSeconds(130))
        .setProxyUrl("http://s-0123456789abcdef@127.0.0.1:8888")
        .setId("s-0123456789abcdef").build();
    assertEquals(Instant.ofEpochSecond(100, 5), SessionInfos.openedAt(info).orElseThrow());
    assertEquals(Duration.ofSeconds(2), SessionInfos.age(info));
    assertEquals(Duration.ofSeconds(30), SessionInfos.lease(info).orElseThrow());
    assertEquals(Instant.ofEpochSecond(130), SessionInfos.leaseExpiresAt(info).orElseThrow());
    assertEquals("s-0123456789abcdef", SessionInfos.proxyUrl(info).orElseThrow().getUserInfo());
    assertFalse(SessionInfos.isDefault(info));
    assertFalse(SessionInfos.lease(SessionInfo.getDefaultInstance()).isPresent());
    assertTrue(SessionInfos.isDefault(SessionInfo.newBuilder().setId("default").build()));
    assertEquals(Instant.ofEpochSecond(7), SessionInfos.endedAt(SessionSummary.newBuilder()
        .setEndedAt(Timestamp.newBuilder().setSeconds(7)).build()).orElseThrow());
    assertEquals("Basic czo6", SessionInfos.proxyAuthorization("s:")); // base64("s::")
  }
}
