package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.Event;
import dev.matgto.v1.ExchangeEvent;
import dev.matgto.v1.ExchangeResult;
import dev.matgto.v1.MissEvent;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The live event stream (WatchEvents) against the real server and a real upstream. */
class EventsTest extends ServerTestBase {

  /** The first {@code want} exchange/miss events; fails after 15 s without them. */
  static List<Event> collect(EventStream events, int want) throws InterruptedException {
    List<Event> got = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (got.size() < want) {
      long left = deadline - System.nanoTime();
      Optional<Event> e = events.poll(Duration.ofNanos(Math.max(1, left)));
      if (e.isEmpty()) {
        throw new AssertionError("only " + got.size() + " of " + want + " events came: " + got);
      }
      if (e.get().hasExchange() || e.get().hasMiss()) {
        got.add(e.get());
      }
    }
    return got;
  }

  static int get(Session s, URI uri) throws Exception {
    HttpClient http = SessionsTest.through(s.proxyAddress());
    return SessionsTest.send(http, uri).statusCode();
  }

  @Test
  void aSessionSeesItsRecordedAndReplayedExchangesAndItsMiss() throws Exception {
    try (Upstream up = new Upstream()) {
      URI uri = up.uri("/text?token=secret-abc&page=2");
      try (Session rec = client.session("ev/text").mode(Mode.RECORD).open();
          EventStream events = rec.events()) {
        assertEquals(200, get(rec, uri));
        Event recorded = collect(events, 1).get(0);
        assertEquals(ExchangeResult.RESULT_RECORDED, recorded.getExchange().getResult());
        assertEquals(rec.id(), recorded.getExchange().getSession());
      }
      List<Event> got;
      String id;
      try (Session s = client.session("ev/text").mode(Mode.REPLAY).open();
          Session other = client.session("ev/text").mode(Mode.REPLAY).open(); // filtered out
          EventStream events = s.events()) {
        id = s.id();
        assertEquals(200, get(other, uri));
        assertEquals(200, get(s, uri));
        assertEquals(599, get(s, up.uri("/not-recorded")));
        got = collect(events, 3);
        assertEquals(0, events.dropped());
      }
      assertEquals(1, up.calls());

      List<ExchangeEvent> exchanges =
          got.stream().filter(Event::hasExchange).map(Event::getExchange).collect(Collectors.toList());
      List<MissEvent> misses =
          got.stream().filter(Event::hasMiss).map(Event::getMiss).collect(Collectors.toList());
      Set<String> sessions =
          exchanges.stream().map(ExchangeEvent::getSession)
              .collect(Collectors.toCollection(HashSet::new));
      misses.forEach(m -> sessions.add(m.getSession()));
      assertEquals(Set.of(id), sessions);
      ExchangeEvent replayed = exchanges.get(0);
      assertEquals("GET", replayed.getMethod());
      assertEquals(200, replayed.getStatus());
      assertEquals(ExchangeResult.RESULT_REPLAYED, replayed.getResult());
      assertEquals(up.uri("/text").toString() + "?token=[REDACTED]&page=[REDACTED]", replayed.getUrl());
      assertEquals("ev/text", replayed.getCassette());
      assertEquals(dev.matgto.v1.Mode.REPLAY, replayed.getMode());
      assertEquals(1, misses.size(), got.toString());
      MissEvent miss = misses.get(0);
      assertEquals("no-match", miss.getMiss().getReason());
      assertTrue(miss.getMiss().getUrl().endsWith("/not-recorded"), miss.getMiss().getUrl());
      assertTrue(miss.getExplanation().contains("/not-recorded"), miss.getExplanation());
      assertTrue(miss.getExplanation().contains("/text"), miss.getExplanation());
      List<ExchangeEvent> missed =
          exchanges.stream().filter(x -> x.getResult() == ExchangeResult.RESULT_MISSED)
              .collect(Collectors.toList());
      assertEquals(1, missed.size());
      assertEquals(599, missed.get(0).getStatus());
      assertEquals("no-match", missed.get(0).getError());
      assertTrue(got.stream().allMatch(e -> e.getDropped() == 0 && e.hasTime()));
    }
  }

  @Test
  void closeEndsABlockedIteration() throws Exception {
    EventStream events = client.watchEvents(null, "ev/nothing-happens-here");
    AtomicReference<Object> outcome = new AtomicReference<>();
    Thread reader =
        new Thread(
            () -> {
              try {
                outcome.set(events.hasNext());
              } catch (Throwable t) {
                outcome.set(t);
              }
            });
    reader.start();
    Thread.sleep(200); // let it block in hasNext()
    events.close();
    reader.join(10_000);
    assertFalse(reader.isAlive(), "hasNext() did not return after close()");
    assertEquals(Boolean.FALSE, outcome.get());
    assertTrue(events.isClosed());
    assertFalse(events.hasNext());
    assertThrows(NoSuchElementException.class, events::next);
    events.close(); // idempotent

    try (var stream = client.watchEvents().stream()) {
      assertFalse(stream.isParallel());
    } // closing the Stream closes the call
    assertEquals(1, client.status().getApiVersion()); // the client still works
  }
}
