package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.ClearFaultsRequest;
import dev.matgto.v1.SetFaultsRequest;
import dev.matgto.v1.UseCassetteRequest;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What the fault and latency calls put on the wire and how their errors map, against {@link
 * FakeControlServer}. No matgto binary needed; {@code FaultsTest} covers the real server.
 */
class FaultPlumbingTest {
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

  @Test
  void setFaultsSendsTheRulesTheSessionAndTheSeed() {
    try (Session s = client.openSession("faults", Mode.AUTO)) {
      Faults added = s.addFaults(7,
          Fault.status(503).header("Retry-After", "1").firstN(2).url("/orders/.*"),
          Fault.hang().method("POST"));
      SetFaultsRequest req = fake.requests(SetFaultsRequest.class).get(0);
      assertEquals(s.id(), req.getSession());
      assertEquals(7, req.getSeed());
      assertEquals(Fault.status(503).header("Retry-After", "1").firstN(2).url("/orders/.*")
          .toProto(), req.getFaults(0));
      assertEquals(Fault.hang().method("POST").toProto(), req.getFaults(1));
      assertEquals(List.of("f1", "f2"), added.ids());
      assertEquals(7, added.seed());

      Faults more = s.addFaults(Fault.reset(Reset.MID_BODY));
      assertEquals(0, fake.requests(SetFaultsRequest.class).get(1).getSeed(), "0 keeps the seed");
      assertEquals(List.of("f1", "f2", "f3"), more.ids());
      assertEquals(7, more.seed());

      Fault one = s.addFault(Fault.delay(Duration.ofSeconds(2)).everyNth(3));
      assertEquals("f4", one.id());
      assertEquals(Fault.Kind.DELAY, one.kind());

      assertEquals(List.of("f1", "f2", "f3", "f4"),
          s.faults().stream().map(Fault::id).toList(), "read back from GetStatus");
      assertEquals(7, s.faultSeed());

      List<Fault> left = s.clearFaults("f2", "f3");
      assertEquals(List.of("f1", "f4"), left.stream().map(Fault::id).toList());
      ClearFaultsRequest clear = fake.requests(ClearFaultsRequest.class).get(0);
      assertEquals(s.id(), clear.getSession());
      assertEquals(List.of("f2", "f3"), clear.getIdsList());

      assertEquals(List.of(), s.clearFaults());
      assertEquals(0, fake.requests(ClearFaultsRequest.class).get(1).getIdsCount(), "all");

      assertEquals(99, s.seedFaults(99).seed());
      assertEquals(0, fake.requests(SetFaultsRequest.class).get(3).getFaultsCount());
      assertThrows(IllegalArgumentException.class, () -> s.seedFaults(0));
    }
  }

  @Test
  void theDefaultSessionIsAnEmptyIdOnTheWire() {
    client.setFaults("default", Fault.hang());
    client.setFaults("", 3, List.of(Fault.hang()));
    client.clearFaults("default");
    assertEquals("", fake.requests(SetFaultsRequest.class).get(0).getSession());
    assertEquals("", fake.requests(SetFaultsRequest.class).get(1).getSession());
    assertEquals(3, fake.requests(SetFaultsRequest.class).get(1).getSeed());
    assertEquals("", fake.requests(ClearFaultsRequest.class).get(0).getSession());
  }

  @Test
  void notFoundNamesTheSessionOrTheRule() {
    try (Session s = client.openSession("nf", Mode.AUTO)) {
      s.addFaults(Fault.hang());
      FaultNotFoundException noRule =
          assertThrows(FaultNotFoundException.class, () -> s.clearFaults("f9"));
      assertEquals(s.id(), noRule.getSessionId());
      assertEquals(List.of("f9"), noRule.getIds());
      assertEquals(io.grpc.Status.Code.NOT_FOUND, noRule.getCode());
      assertTrue(noRule.getServerMessage().contains("f9"), noRule.getServerMessage());

      FaultNotFoundException onDefault =
          assertThrows(FaultNotFoundException.class, () -> client.clearFaults("default", "f9"));
      assertEquals("default", onDefault.getSessionId());
    }
    SessionNotFoundException gone = assertThrows(SessionNotFoundException.class,
        () -> client.setFaults("s-00000000000000ff", Fault.hang()));
    assertEquals("s-00000000000000ff", gone.getSessionId());
    assertThrows(SessionNotFoundException.class,
        () -> client.clearFaults("s-00000000000000ff", "f1"));
    assertThrows(SessionNotFoundException.class, () -> client.clearFaults("s-00000000000000ff"));
    assertThrows(SessionNotFoundException.class, () -> client.faults("s-00000000000000ff"));
  }

  @Test
  void aRuleWithoutActionIsInvalidArgument() {
    assertThrows(InvalidArgumentException.class,
        () -> client.setFaults("", Fault.of(dev.matgto.v1.Fault.newBuilder().setMethod("GET")
            .build())));
  }

  @Test
  void latencyGoesWithTheSessionOptions() {
    try (Session s = client.session("slow").latency(Latency.fixed(Duration.ofMillis(300)))
        .open()) {
      UseCassetteRequest req = fake.requests(UseCassetteRequest.class).get(0);
      assertEquals(dev.matgto.v1.LatencyMode.LATENCY_FIXED, req.getOptions().getLatency().getMode());
      assertEquals(300_000_000, req.getOptions().getLatency().getFixed().getNanos());
    }
    client.replay("x", CassetteOptions.builder().latency(Latency.asRecorded(2)).build());
    assertEquals(2.0, fake.requests(dev.matgto.v1.ReplayRequest.class).get(0).getOptions()
        .getLatency().getScale());
  }
}
