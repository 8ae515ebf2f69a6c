package dev.matgto.client;

import com.google.protobuf.ByteString;
import dev.matgto.v1.Header;
import dev.matgto.v1.Hang;
import dev.matgto.v1.ResetFault;
import dev.matgto.v1.StatusFault;
import dev.matgto.v1.WsFault;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A fault rule for a session ({@code SetFaults}): what it does to a request, which requests it
 * hits, and how often. Modelled on Toxiproxy's toxics, but per request rather than per
 * connection, and in every mode (record, replay, passthrough).
 *
 * <pre>{@code
 * session.addFaults(
 *     Fault.status(503).header("Retry-After", "1").firstN(2).url("/orders/.*"),
 *     Fault.delay(Duration.ofSeconds(2)).method("GET").probability(0.1),
 *     Fault.reset(Reset.AFTER_HEADERS).everyNth(3),
 *     Fault.bandwidth(100 * 1024),
 *     Fault.webSocket().dropAfterMessages(2).delayMessages(Duration.ofMillis(300)));
 * }</pre>
 *
 * <p>A rule starts from its action (one of the static factories) and is narrowed by {@link
 * #method(String)} and {@link #url(String)} (both unset: every request) and by at most one
 * selector, {@link #probability(double)}, {@link #everyNth(int)} or {@link #firstN(int)} (none:
 * every matching request; setting one replaces the one set before). Instances are immutable:
 * each method returns a new rule. Rules read back from the server ({@link Session#faults()},
 * {@link SessionInfos#faults}) carry their {@link #id()} and {@link #applied()} count.
 */
public final class Fault {
  /** What a rule does. */
  public enum Kind {
    /** Answers a given status instead of the recorded or live response. */
    STATUS,
    /** Waits before the response starts. */
    DELAY,
    /** Never answers: holds the connection until the client gives up. */
    HANG,
    /** Breaks the connection (TCP RST). */
    RESET,
    /** Sends the response body at a limited rate. */
    BANDWIDTH,
    /**
     * Acts on WebSocket upgrades only: drops the connection after some messages and/or delays each
     * message to the client.
     */
    WEBSOCKET,
    /** A rule without an action (the server refuses it), or one this client does not know. */
    UNKNOWN
  }

  private final dev.matgto.v1.Fault proto;

  private Fault(dev.matgto.v1.Fault proto) {
    this.proto = proto;
  }

  // ---------------------------------------------------------------- actions

  /**
   * Answers status {@code code} (100..999) instead of the recorded or live response: nothing is
   * forwarded upstream or recorded. Add headers with {@link #header} and a body with {@link
   * #body(String)}.
   */
  public static Fault status(int code) {
    if (code < 100 || code > 999) {
      throw new IllegalArgumentException("a status code is 100..999: " + code);
    }
    return new Fault(
        dev.matgto.v1.Fault.newBuilder().setStatus(StatusFault.newBuilder().setCode(code)).build());
  }

  /** Waits {@code delay} before the response starts (Toxiproxy's {@code latency}). */
  public static Fault delay(Duration delay) {
    Objects.requireNonNull(delay, "delay");
    if (delay.isNegative()) {
      throw new IllegalArgumentException("a delay cannot be negative: " + delay);
    }
    return new Fault(dev.matgto.v1.Fault.newBuilder().setDelay(ProtoTime.toProto(delay)).build());
  }

  /**
   * Never answers: the connection is held until the client gives up (Toxiproxy's {@code timeout}
   * with 0). Give the HTTP client a request timeout.
   */
  public static Fault hang() {
    return new Fault(dev.matgto.v1.Fault.newBuilder().setHang(Hang.getDefaultInstance()).build());
  }

  /** Resets the connection (TCP RST) before anything is sent. */
  public static Fault reset() {
    return reset(Reset.BEFORE_HEADERS);
  }

  /** Resets the connection (TCP RST) at {@code when} (Toxiproxy's {@code reset_peer}). */
  public static Fault reset(Reset when) {
    Objects.requireNonNull(when, "when");
    return new Fault(
        dev.matgto.v1.Fault.newBuilder()
            .setReset(ResetFault.newBuilder().setWhen(when.toProto()))
            .build());
  }

  /** Sends the response body at most {@code bytesPerSecond} (Toxiproxy's {@code bandwidth}). */
  public static Fault bandwidth(long bytesPerSecond) {
    if (bytesPerSecond <= 0) {
      throw new IllegalArgumentException("a bandwidth is a positive number of bytes per second: "
          + bytesPerSecond);
    }
    return new Fault(
        dev.matgto.v1.Fault.newBuilder().setBandwidthBytesPerSecond(bytesPerSecond).build());
  }

  /**
   * A rule for WebSocket upgrades only (plain HTTP requests never match it, and the other actions
   * never apply to upgrades). Give it what it does with {@link #dropAfterMessages(int)} and/or
   * {@link #delayMessages(Duration)}: {@code
   * Fault.webSocket().dropAfterMessages(2).delayMessages(Duration.ofMillis(300))}. As it is
   * (neither set) it does nothing.
   */
  public static Fault webSocket() {
    return new Fault(
        dev.matgto.v1.Fault.newBuilder().setWebsocket(WsFault.getDefaultInstance()).build());
  }

  /**
   * Drops the client's WebSocket connection (no close frame) after it got {@code messages}
   * messages: {@code Fault.webSocket().dropAfterMessages(messages)}.
   */
  public static Fault dropWebSocketAfter(int messages) {
    return webSocket().dropAfterMessages(messages);
  }

  /**
   * Delays each WebSocket message to the client by {@code delay}: {@code
   * Fault.webSocket().delayMessages(delay)}.
   */
  public static Fault delayWebSocketMessages(Duration delay) {
    return webSocket().delayMessages(delay);
  }

  /** Wraps the generated message as it is (the escape hatch: the server validates it). */
  public static Fault of(dev.matgto.v1.Fault proto) {
    return new Fault(Objects.requireNonNull(proto, "proto"));
  }

  // ---------------------------------------------------------------- which requests

  /** Only requests with this HTTP method ({@code "GET"}); empty or null: any method. */
  public Fault method(String method) {
    return with(proto.toBuilder().setMethod(method == null ? "" : method));
  }

  /**
   * Only requests whose absolute URL ({@code http://host:port/path?query}) contains a match of
   * this RE2 pattern ({@code "/orders/.*"}; anchor with {@code ^} for a prefix); empty or null:
   * any URL. A pattern RE2 rejects makes {@code SetFaults} fail with {@link
   * InvalidArgumentException}.
   */
  public Fault url(String re2Pattern) {
    return with(proto.toBuilder().setUrlPattern(re2Pattern == null ? "" : re2Pattern));
  }

  // ---------------------------------------------------------------- how often

  /**
   * Each matching request with probability {@code p} (0..1), drawn from the session's seeded
   * generator: the same seed ({@link Faults#seed()}) gives the same sequence.
   */
  public Fault probability(double p) {
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException("a probability is 0..1: " + p);
    }
    return with(proto.toBuilder().setProbability(p));
  }

  /** Every {@code n}th matching request (the nth, the 2nth, ...); n ≥ 1. */
  public Fault everyNth(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("everyNth needs n >= 1: " + n);
    }
    return with(proto.toBuilder().setEveryNth(n));
  }

  /** The first {@code n} matching requests, then never again; n ≥ 1. */
  public Fault firstN(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("firstN needs n >= 1: " + n);
    }
    return with(proto.toBuilder().setFirstN(n));
  }

  /** Every matching request (removes a selector set before; the default). */
  public Fault always() {
    return with(proto.toBuilder().clearSelector());
  }

  // ---------------------------------------------------------------- status answers

  /**
   * A header of the {@link #status(int)} answer ({@code header("Retry-After", "1")}); may be
   * repeated.
   *
   * @throws IllegalStateException on a rule that does not answer a status
   */
  public Fault header(String name, String value) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(value, "value");
    StatusFault.Builder s = statusOrThrow("header").toBuilder();
    s.addHeaders(Header.newBuilder().setName(name).setValue(value));
    return with(proto.toBuilder().setStatus(s));
  }

  /** The body of the {@link #status(int)} answer, as UTF-8. */
  public Fault body(String body) {
    return body(Objects.requireNonNull(body, "body").getBytes(StandardCharsets.UTF_8));
  }

  /** The body of the {@link #status(int)} answer. */
  public Fault body(byte[] body) {
    Objects.requireNonNull(body, "body");
    StatusFault s = statusOrThrow("body").toBuilder().setBody(ByteString.copyFrom(body)).build();
    return with(proto.toBuilder().setStatus(s));
  }

  // ---------------------------------------------------------------- WebSocket rules

  /**
   * Of a {@link #webSocket()} rule: drops the client's connection (no close frame) after it got
   * {@code messages} messages (0: never, the default).
   *
   * @throws IllegalStateException on a rule that is not a WebSocket rule
   */
  public Fault dropAfterMessages(int messages) {
    if (messages < 0) {
      throw new IllegalArgumentException("a message count cannot be negative: " + messages);
    }
    WsFault w = webSocketOrThrow("dropAfterMessages").toBuilder()
        .setDropAfterMessages(messages).build();
    return with(proto.toBuilder().setWebsocket(w));
  }

  /**
   * Of a {@link #webSocket()} rule: each message to the client waits {@code delay} first
   * ({@link Duration#ZERO}: no delay, the default).
   *
   * @throws IllegalStateException on a rule that is not a WebSocket rule
   */
  public Fault delayMessages(Duration delay) {
    Objects.requireNonNull(delay, "delay");
    if (delay.isNegative()) {
      throw new IllegalArgumentException("a delay cannot be negative: " + delay);
    }
    WsFault.Builder w = webSocketOrThrow("delayMessages").toBuilder();
    if (delay.isZero()) {
      w.clearMessageDelay();
    } else {
      w.setMessageDelay(ProtoTime.toProto(delay));
    }
    return with(proto.toBuilder().setWebsocket(w));
  }

  private WsFault webSocketOrThrow(String what) {
    if (!proto.hasWebsocket()) {
      throw new IllegalStateException(
          what + " only goes with Fault.webSocket(), not with " + kind());
    }
    return proto.getWebsocket();
  }

  private StatusFault statusOrThrow(String what) {
    if (!proto.hasStatus()) {
      throw new IllegalStateException(
          "a " + what + " only goes with Fault.status(code), not with " + kind());
    }
    return proto.getStatus();
  }

  private static Fault with(dev.matgto.v1.Fault.Builder b) {
    return new Fault(b.build());
  }

  // ---------------------------------------------------------------- reading

  /** The id the server gave the rule ("f1", ...); empty for a rule not yet sent. */
  public String id() {
    return proto.getId();
  }

  /** How many requests the rule has hit, as of when the server described it. */
  public long applied() {
    return proto.getApplied();
  }

  /** What the rule does. */
  public Kind kind() {
    switch (proto.getActionCase()) {
      case STATUS:
        return Kind.STATUS;
      case DELAY:
        return Kind.DELAY;
      case HANG:
        return Kind.HANG;
      case RESET:
        return Kind.RESET;
      case BANDWIDTH_BYTES_PER_SECOND:
        return Kind.BANDWIDTH;
      case WEBSOCKET:
        return Kind.WEBSOCKET;
      default:
        return Kind.UNKNOWN;
    }
  }

  /**
   * Of a {@link Kind#WEBSOCKET} rule: after how many messages the client's connection is dropped;
   * 0: never (and for any other kind of rule).
   */
  public long dropAfterMessages() {
    return Integer.toUnsignedLong(proto.getWebsocket().getDropAfterMessages());
  }

  /**
   * Of a {@link Kind#WEBSOCKET} rule: how long each message to the client waits; {@link
   * Duration#ZERO}: none (and for any other kind of rule).
   */
  public Duration messageDelay() {
    return proto.getWebsocket().hasMessageDelay()
        ? ProtoTime.toJava(proto.getWebsocket().getMessageDelay())
        : Duration.ZERO;
  }

  /** The HTTP method it is limited to; empty: any. */
  public String method() {
    return proto.getMethod();
  }

  /** The RE2 pattern searched in the absolute URL; empty: any URL. */
  public String url() {
    return proto.getUrlPattern();
  }

  /** The wire message. */
  public dev.matgto.v1.Fault toProto() {
    return proto;
  }

  /** The generated messages of {@code faults}, in order. */
  static List<dev.matgto.v1.Fault> toProtos(List<Fault> faults) {
    List<dev.matgto.v1.Fault> out = new ArrayList<>(faults.size());
    for (Fault f : faults) {
      out.add(Objects.requireNonNull(f, "fault").toProto());
    }
    return out;
  }

  /** Wraps each generated message, in order. */
  static List<Fault> fromProtos(List<dev.matgto.v1.Fault> faults) {
    List<Fault> out = new ArrayList<>(faults.size());
    for (dev.matgto.v1.Fault f : faults) {
      out.add(new Fault(f));
    }
    return List.copyOf(out);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Fault && ((Fault) o).proto.equals(proto);
  }

  @Override
  public int hashCode() {
    return proto.hashCode();
  }

  /** Like {@code matgto fault ls}: {@code "f1: status 503 (Retry-After: 1), url /orders/.*, first 2, applied 2"}. */
  @Override
  public String toString() {
    StringBuilder s = new StringBuilder("Fault[");
    if (!proto.getId().isEmpty()) {
      s.append(proto.getId()).append(": ");
    }
    switch (proto.getActionCase()) {
      case STATUS:
        s.append("status ").append(proto.getStatus().getCode());
        if (proto.getStatus().getHeadersCount() > 0) {
          s.append(" (");
          for (int i = 0; i < proto.getStatus().getHeadersCount(); i++) {
            Header h = proto.getStatus().getHeaders(i);
            s.append(i == 0 ? "" : ", ").append(h.getName()).append(": ").append(h.getValue());
          }
          s.append(')');
        }
        if (!proto.getStatus().getBody().isEmpty()) {
          s.append(", body ").append(proto.getStatus().getBody().size()).append(" bytes");
        }
        break;
      case DELAY:
        s.append("delay ").append(ProtoTime.toJava(proto.getDelay()));
        break;
      case HANG:
        s.append("hang");
        break;
      case RESET:
        s.append("reset ").append(Reset.fromProto(proto.getReset().getWhen()));
        break;
      case BANDWIDTH_BYTES_PER_SECOND:
        s.append("bandwidth ").append(Long.toUnsignedString(proto.getBandwidthBytesPerSecond()))
            .append(" B/s");
        break;
      case WEBSOCKET:
        s.append("websocket");
        if (proto.getWebsocket().getDropAfterMessages() != 0) {
          s.append(" drop after ").append(dropAfterMessages()).append(" messages");
        }
        if (proto.getWebsocket().hasMessageDelay()) {
          s.append(proto.getWebsocket().getDropAfterMessages() != 0 ? "," : "")
              .append(" delay ").append(messageDelay());
        }
        break;
      default:
        s.append("no action");
    }
    if (!proto.getMethod().isEmpty()) {
      s.append(", method ").append(proto.getMethod());
    }
    if (!proto.getUrlPattern().isEmpty()) {
      s.append(", url ").append(proto.getUrlPattern());
    }
    switch (proto.getSelectorCase()) {
      case PROBABILITY:
        s.append(", probability ").append(proto.getProbability());
        break;
      case EVERY_NTH:
        s.append(", every ").append(Integer.toUnsignedString(proto.getEveryNth())).append("th");
        break;
      case FIRST_N:
        s.append(", first ").append(Integer.toUnsignedString(proto.getFirstN()));
        break;
      default:
        break;
    }
    if (proto.getApplied() != 0) {
      s.append(", applied ").append(Long.toUnsignedString(proto.getApplied()));
    }
    return s.append(']').toString();
  }
}
