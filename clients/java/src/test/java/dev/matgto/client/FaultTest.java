package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.ResetFault;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fault and latency builders and their wire form (no server needed). */
class FaultTest {

  @Test
  void statusRuleWithHeadersSelectorAndMatch() {
    Fault f =
        Fault.status(503).header("Retry-After", "1").header("X-A", "b").body("down")
            .firstN(2).url("/orders/.*").method("GET");
    dev.matgto.v1.Fault p = f.toProto();
    assertEquals(503, p.getStatus().getCode());
    assertEquals(2, p.getStatus().getHeadersCount());
    assertEquals("Retry-After", p.getStatus().getHeaders(0).getName());
    assertEquals("1", p.getStatus().getHeaders(0).getValue());
    assertEquals("X-A", p.getStatus().getHeaders(1).getName());
    assertEquals("down", p.getStatus().getBody().toStringUtf8());
    assertEquals(dev.matgto.v1.Fault.SelectorCase.FIRST_N, p.getSelectorCase());
    assertEquals(2, p.getFirstN());
    assertEquals("/orders/.*", p.getUrlPattern());
    assertEquals("GET", p.getMethod());
    assertEquals("", p.getId(), "ids are the server's");
    assertEquals(Fault.Kind.STATUS, f.kind());
    assertEquals("GET", f.method());
    assertEquals("/orders/.*", f.url());
    assertEquals(
        "Fault[status 503 (Retry-After: 1, X-A: b), body 4 bytes, method GET, url /orders/.*, first 2]",
        f.toString());
  }

  @Test
  void eachActionHasItsWireForm() {
    assertEquals(com.google.protobuf.Duration.newBuilder().setSeconds(2).build(),
        Fault.delay(Duration.ofSeconds(2)).toProto().getDelay());
    assertEquals(Fault.Kind.DELAY, Fault.delay(Duration.ofMillis(1)).kind());
    assertTrue(Fault.hang().toProto().hasHang());
    assertEquals(Fault.Kind.HANG, Fault.hang().kind());
    assertEquals(ResetFault.When.AFTER_HEADERS,
        Fault.reset(Reset.AFTER_HEADERS).toProto().getReset().getWhen());
    assertEquals(ResetFault.When.MID_BODY, Fault.reset(Reset.MID_BODY).toProto().getReset().getWhen());
    assertEquals(ResetFault.When.BEFORE_HEADERS, Fault.reset().toProto().getReset().getWhen());
    assertEquals(Fault.Kind.RESET, Fault.reset().kind());
    assertEquals(100 * 1024, Fault.bandwidth(100 * 1024).toProto().getBandwidthBytesPerSecond());
    assertEquals(Fault.Kind.BANDWIDTH, Fault.bandwidth(1).kind());
    assertEquals(Fault.Kind.UNKNOWN, Fault.of(dev.matgto.v1.Fault.getDefaultInstance()).kind());
    assertEquals(Reset.BEFORE_HEADERS, Reset.fromProto(ResetFault.When.WHEN_UNSPECIFIED));
  }

  @Test
  void webSocketRulesHaveTheirWireFormAndReadBack() {
    Fault both = Fault.webSocket().dropAfterMessages(2).delayMessages(Duration.ofMillis(300))
        .url("/ws/.*").firstN(1);
    dev.matgto.v1.Fault p = both.toProto();
    assertEquals(dev.matgto.v1.Fault.ActionCase.WEBSOCKET, p.getActionCase());
    assertEquals(2, p.getWebsocket().getDropAfterMessages());
    assertEquals(com.google.protobuf.Duration.newBuilder().setNanos(300_000_000).build(),
        p.getWebsocket().getMessageDelay());
    assertEquals("/ws/.*", p.getUrlPattern());
    assertEquals(Fault.Kind.WEBSOCKET, both.kind());
    assertEquals(2, both.dropAfterMessages());
    assertEquals(Duration.ofMillis(300), both.messageDelay());
    assertEquals("Fault[websocket drop after 2 messages, delay PT0.3S, url /ws/.*, first 1]",
        both.toString());

    Fault drop = Fault.dropWebSocketAfter(3);
    assertEquals(Fault.webSocket().dropAfterMessages(3), drop);
    assertEquals(3, drop.toProto().getWebsocket().getDropAfterMessages());
    assertFalse(drop.toProto().getWebsocket().hasMessageDelay());
    assertEquals(Duration.ZERO, drop.messageDelay());
    assertEquals("Fault[websocket drop after 3 messages]", drop.toString());

    Fault delay = Fault.delayWebSocketMessages(Duration.ofSeconds(1));
    assertEquals(Fault.webSocket().delayMessages(Duration.ofSeconds(1)), delay);
    assertEquals(1, delay.toProto().getWebsocket().getMessageDelay().getSeconds());
    assertEquals(0, delay.dropAfterMessages(), "0: never");
    assertEquals("Fault[websocket delay PT1S]", delay.toString());
    assertFalse(delay.delayMessages(Duration.ZERO).toProto().getWebsocket().hasMessageDelay());
    assertEquals(0, delay.dropAfterMessages(5).dropAfterMessages(0).dropAfterMessages());

    // Read back from the server: the same rule with its id and applied count.
    Fault stored = Fault.of(p.toBuilder().setId("f2").setApplied(1).build());
    assertEquals(Fault.Kind.WEBSOCKET, stored.kind());
    assertEquals(2, stored.dropAfterMessages());
    assertEquals(Duration.ofMillis(300), stored.messageDelay());
    assertEquals(List.of(stored), SessionInfos.faults(
        dev.matgto.v1.SessionInfo.newBuilder().addFaults(stored.toProto()).build()));

    // Other rules read as "nothing" and cannot take WebSocket settings.
    assertEquals(0, Fault.hang().dropAfterMessages());
    assertEquals(Duration.ZERO, Fault.status(503).messageDelay());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Fault.delay(Duration.ofMillis(1)).dropAfterMessages(1));
    assertTrue(e.getMessage().contains("DELAY"), e.getMessage());
    assertThrows(IllegalStateException.class,
        () -> Fault.reset().delayMessages(Duration.ofMillis(1)));
    assertThrows(IllegalStateException.class, () -> Fault.webSocket().header("A", "b"));
    assertThrows(IllegalArgumentException.class, () -> Fault.dropWebSocketAfter(-1));
    assertThrows(IllegalArgumentException.class,
        () -> Fault.delayWebSocketMessages(Duration.ofMillis(-1)));
    assertThrows(NullPointerException.class, () -> Fault.delayWebSocketMessages(null));
  }

  @Test
  void aSelectorReplacesTheOneBeforeAndRulesAreImmutable() {
    Fault base = Fault.reset().probability(0.25);
    Fault nth = base.everyNth(3);
    assertEquals(dev.matgto.v1.Fault.SelectorCase.PROBABILITY, base.toProto().getSelectorCase());
    assertEquals(0.25, base.toProto().getProbability());
    assertEquals(dev.matgto.v1.Fault.SelectorCase.EVERY_NTH, nth.toProto().getSelectorCase());
    assertEquals(3, nth.toProto().getEveryNth());
    assertEquals(dev.matgto.v1.Fault.SelectorCase.SELECTOR_NOT_SET,
        nth.always().toProto().getSelectorCase());
    assertNotEquals(base, nth);
    assertEquals(Fault.reset().probability(0.25), base);
    assertEquals(Fault.reset().probability(0.25).hashCode(), base.hashCode());
    assertEquals("", Fault.hang().method("GET").method(null).method());
    assertEquals("", Fault.hang().url("x").url(null).url());
  }

  @Test
  void obviousMistakesFailInTheClient() {
    assertThrows(IllegalArgumentException.class, () -> Fault.status(99));
    assertThrows(IllegalArgumentException.class, () -> Fault.status(1000));
    assertThrows(IllegalArgumentException.class, () -> Fault.delay(Duration.ofSeconds(-1)));
    assertThrows(IllegalArgumentException.class, () -> Fault.bandwidth(0));
    assertThrows(IllegalArgumentException.class, () -> Fault.hang().probability(1.5));
    assertThrows(IllegalArgumentException.class, () -> Fault.hang().probability(-0.1));
    assertThrows(IllegalArgumentException.class, () -> Fault.hang().probability(Double.NaN));
    assertThrows(IllegalArgumentException.class, () -> Fault.hang().everyNth(0));
    assertThrows(IllegalArgumentException.class, () -> Fault.hang().firstN(0));
    assertThrows(NullPointerException.class, () -> Fault.reset(null));
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> Fault.hang().header("Retry-After", "1"));
    assertTrue(e.getMessage().contains("HANG"), e.getMessage());
    assertThrows(IllegalStateException.class, () -> Fault.reset().body("x"));
    // Probabilities at the bounds are fine.
    assertEquals(0.0, Fault.hang().probability(0).toProto().getProbability());
    assertEquals(1.0, Fault.hang().probability(1).toProto().getProbability());
  }

  @Test
  void rulesFromTheServerCarryIdAndAppliedCount() {
    dev.matgto.v1.Fault stored =
        Fault.status(503).firstN(2).toProto().toBuilder().setId("f3").setApplied(2).build();
    Fault f = Fault.of(stored);
    assertEquals("f3", f.id());
    assertEquals(2, f.applied());
    assertEquals("Fault[f3: status 503, first 2, applied 2]", f.toString());
    Faults all = new Faults(List.of(f, Fault.of(stored.toBuilder().setId("f4").build())), -1L);
    assertEquals(List.of("f3", "f4"), all.ids());
    assertEquals(f, all.byId("f3").orElseThrow());
    assertFalse(all.byId("f9").isPresent());
    assertTrue(all.toString().startsWith("Faults[seed 18446744073709551615, "), all.toString());
    dev.matgto.v1.SessionInfo info =
        dev.matgto.v1.SessionInfo.newBuilder().addFaults(stored).setFaultSeed(7).build();
    assertEquals(List.of(f), SessionInfos.faults(info));
    assertEquals(7, SessionInfos.faultSeed(info));
  }

  @Test
  void latencyFactories() {
    dev.matgto.v1.Latency fast = Latency.fast().toProto();
    assertEquals(dev.matgto.v1.LatencyMode.LATENCY_FAST, fast.getMode());

    dev.matgto.v1.Latency rec = Latency.asRecorded(2.5).toProto();
    assertEquals(dev.matgto.v1.LatencyMode.LATENCY_AS_RECORDED, rec.getMode());
    assertEquals(2.5, rec.getScale());
    assertEquals(1.0, Latency.asRecorded().scale());
    assertEquals(1.0, Latency.of(dev.matgto.v1.Latency.newBuilder()
        .setMode(dev.matgto.v1.LatencyMode.LATENCY_AS_RECORDED).build()).scale(), "0 means 1");

    Latency fixed = Latency.fixed(Duration.ofMillis(100), Duration.ofMillis(50));
    assertEquals(dev.matgto.v1.LatencyMode.LATENCY_FIXED, fixed.mode());
    assertEquals(com.google.protobuf.Duration.newBuilder().setNanos(100_000_000).build(),
        fixed.toProto().getFixed());
    assertEquals(com.google.protobuf.Duration.newBuilder().setNanos(50_000_000).build(),
        fixed.toProto().getJitter());
    assertFalse(Latency.fixed(Duration.ofMillis(300)).toProto().hasJitter());
    assertEquals(Duration.ofMillis(300), Latency.fixed(Duration.ofMillis(300)).fixed());

    assertThrows(IllegalArgumentException.class, () -> Latency.asRecorded(0));
    assertThrows(IllegalArgumentException.class, () -> Latency.asRecorded(Double.NaN));
    assertThrows(IllegalArgumentException.class, () -> Latency.fixed(Duration.ofMillis(-1)));
    assertThrows(IllegalArgumentException.class,
        () -> Latency.fixed(Duration.ofMillis(1), Duration.ofMillis(-1)));
  }

  @Test
  void latencyParsesTheCliSyntax() {
    assertEquals(Latency.fast(), Latency.parse("fast"));
    assertEquals(Latency.asRecorded(), Latency.parse(" As-Recorded "));
    assertEquals(Latency.fixed(Duration.ofMillis(200)), Latency.parse("200ms"));
    assertEquals(Latency.fixed(Duration.ofMillis(1500)), Latency.parse("1.5s"));
    assertEquals(Latency.fixed(Duration.ofMillis(100), Duration.ofMillis(50)),
        Latency.parse("100ms±50ms"));
    assertEquals(Latency.fixed(Duration.ofMillis(100), Duration.ofMillis(50)),
        Latency.parse("100ms +- 50ms"));
    assertEquals(Latency.fixed(Duration.ofMinutes(2)), Latency.parse("2m"));
    assertEquals(Latency.fixed(Duration.ofNanos(250_000)), Latency.parse("250us"));
    for (String bad : new String[] {"", "slow", "100", "ms", "100ms±", "-5ms", "1d", "100ms±x"}) {
      assertThrows(IllegalArgumentException.class, () -> Latency.parse(bad), bad);
    }
    assertEquals("fast", Latency.fast().toString());
    assertEquals("as-recorded x0.5", Latency.asRecorded(0.5).toString());
  }

  @Test
  void latencyIsACassetteOption() {
    dev.matgto.v1.CassetteOptions p =
        CassetteOptions.builder().latency(Latency.asRecorded(0.5)).build().toProto();
    assertEquals(dev.matgto.v1.LatencyMode.LATENCY_AS_RECORDED, p.getLatency().getMode());
    assertEquals(0.5, p.getLatency().getScale());
    dev.matgto.v1.SessionInfo info =
        dev.matgto.v1.SessionInfo.newBuilder().setOptions(p).build();
    assertEquals(Latency.asRecorded(0.5), SessionInfos.latency(info));
    assertEquals(Latency.fast(),
        SessionInfos.latency(dev.matgto.v1.SessionInfo.getDefaultInstance()));
  }
}
