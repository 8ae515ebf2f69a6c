package dev.matgto.client;

import dev.matgto.v1.Event;
import dev.matgto.v1.ProxyControlGrpc;
import dev.matgto.v1.WatchEventsRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The server's events, live ({@code WatchEvents}): what {@link MatgtoClient#watchEvents()} and
 * {@link Session#events()} return. A blocking {@link Iterator} of the generated {@link Event}
 * messages ({@code time}, {@code dropped}, and one of {@code exchange} / {@code miss} / {@code
 * session}: see {@link Event#getKindCase()}):
 *
 * <pre>{@code
 * try (EventStream events = session.events()) {
 *   while (events.hasNext()) {
 *     Event e = events.next();
 *     if (e.hasMiss()) System.out.println(e.getMiss().getExplanation());
 *   }
 * }
 * }</pre>
 *
 * <p>The server has subscribed by the time the stream is returned, so traffic driven afterwards
 * is seen. {@link #hasNext()} blocks until the next event; it returns {@code false} once {@link
 * #close()} was called (from any thread: a blocked {@code hasNext()} then returns) and when the
 * server shuts down, and throws a {@link MatgtoException} when the call fails. One event is
 * requested at a time, so a slow reader holds the server back, which then drops events for this
 * watcher only and says so in the next event's {@code dropped} ({@link #dropped()} is the total).
 * Iterate from one thread at a time.
 */
public final class EventStream implements Iterator<Event>, AutoCloseable {
  private final ClientCall<WatchEventsRequest, Event> call;
  /** {@link Event}s, then the final {@link Status}. */
  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private final CountDownLatch subscribed = new CountDownLatch(1);
  private volatile Status closedWith;
  private volatile boolean closed;
  private Event peeked;
  private boolean finished;
  private long dropped;

  private EventStream(ClientCall<WatchEventsRequest, Event> call) {
    this.call = call;
  }

  /** The {@code WatchEvents} request for {@code sessionId} and {@code cassette} (null: any). */
  static WatchEventsRequest request(String sessionId, String cassette) {
    WatchEventsRequest.Builder req = WatchEventsRequest.newBuilder();
    if (sessionId != null) {
      req.setSession(sessionId);
    }
    if (cassette != null) {
      req.setCassette(cassette);
    }
    return req.build();
  }

  /** Starts the call and waits for the server's headers (sent once it has subscribed). */
  static EventStream start(Channel channel, WatchEventsRequest request) {
    EventStream stream =
        new EventStream(channel.newCall(ProxyControlGrpc.getWatchEventsMethod(), CallOptions.DEFAULT));
    stream.call.start(
        new ClientCall.Listener<Event>() {
          @Override
          public void onHeaders(Metadata headers) {
            stream.subscribed.countDown();
          }

          @Override
          public void onMessage(Event event) {
            stream.queue.add(event);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            stream.closedWith = status;
            stream.queue.add(status);
            stream.subscribed.countDown();
          }
        },
        new Metadata());
    stream.call.sendMessage(request);
    stream.call.halfClose();
    stream.call.request(1);
    try {
      stream.subscribed.await();
    } catch (InterruptedException e) {
      stream.close();
      Thread.currentThread().interrupt();
      throw MatgtoException.fromStatus(Status.CANCELLED.withDescription("interrupted"), e);
    }
    Status failed = stream.closedWith;
    if (failed != null && !failed.isOk()) {
      throw MatgtoException.fromStatus(failed, failed.asRuntimeException());
    }
    return stream;
  }

  /**
   * Waits for the next event.
   *
   * @return false once closed or the server ended the stream
   * @throws MatgtoException when the call failed (or the waiting thread was interrupted: the stream
   *     is then closed)
   */
  @Override
  public boolean hasNext() {
    if (peeked != null) {
      return true;
    }
    if (finished) {
      return false;
    }
    try {
      return take(queue.take());
    } catch (InterruptedException e) {
      close();
      finished = true;
      Thread.currentThread().interrupt();
      throw MatgtoException.fromStatus(Status.CANCELLED.withDescription("interrupted"), e);
    }
  }

  /** The next event, or empty when none came within {@code timeout} or the stream ended. */
  public Optional<Event> poll(Duration timeout) throws InterruptedException {
    if (peeked == null && !finished) {
      Object item = queue.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
      if (item == null) {
        return Optional.empty();
      }
      take(item);
    }
    return hasNext() ? Optional.of(next()) : Optional.empty();
  }

  private boolean take(Object item) {
    if (item instanceof Event) {
      peeked = (Event) item;
      call.request(1);
      return true;
    }
    finished = true;
    Status status = (Status) item;
    if (!status.isOk() && !closed) {
      throw MatgtoException.fromStatus(status, status.asRuntimeException());
    }
    return false;
  }

  @Override
  public Event next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the event stream has ended");
    }
    Event event = peeked;
    peeked = null;
    dropped += event.getDropped();
    return event;
  }

  /** Events lost so far because this watcher read too slowly (the sum of every {@code dropped}). */
  public long dropped() {
    return dropped;
  }

  /** Whether {@link #close()} was called. */
  public boolean isClosed() {
    return closed;
  }

  /**
   * The remaining events as a sequential {@link Stream}; closing the stream (try-with-resources)
   * closes this.
   */
  public Stream<Event> stream() {
    return StreamSupport.stream(
            Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED | Spliterator.NONNULL),
            false)
        .onClose(this::close);
  }

  /** Stops watching (cancels the call); idempotent, callable from any thread. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      call.cancel("closed by the client", null);
    }
  }
}
