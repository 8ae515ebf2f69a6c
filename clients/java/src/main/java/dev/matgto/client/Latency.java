package dev.matgto.client;

import dev.matgto.v1.LatencyMode;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How fast replay answers an HTTP request, a cassette option ({@link
 * CassetteOptions.Builder#latency(Latency)}; CLI {@code --latency}). Stored with a recording;
 * {@code Replay}/{@code UseCassette} may override it for one session. Only that session is slowed:
 * the server waits with timers, so other exchanges and sessions answer at full speed.
 *
 * <pre>{@code
 * CassetteOptions.builder().latency(Latency.asRecorded())                        // as recorded
 * CassetteOptions.builder().latency(Latency.asRecorded(0.5))                     // twice as fast
 * CassetteOptions.builder().latency(Latency.fixed(Duration.ofMillis(300)))       // 300 ms each
 * CassetteOptions.builder().latency(Latency.fixed(Duration.ofMillis(100), Duration.ofMillis(50)))
 * CassetteOptions.builder().latency(Latency.parse("100ms±50ms"))                 // the CLI's syntax
 * }</pre>
 *
 * <p>Instances are immutable.
 */
public final class Latency {
  private static final Latency FAST =
      new Latency(dev.matgto.v1.Latency.newBuilder().setMode(LatencyMode.LATENCY_FAST).build());

  private final dev.matgto.v1.Latency proto;

  private Latency(dev.matgto.v1.Latency proto) {
    this.proto = proto;
  }

  /** Answers at once (the server's default). */
  public static Latency fast() {
    return FAST;
  }

  /** Each response starts after its recorded time to first byte and ends after its recorded total. */
  public static Latency asRecorded() {
    // No scale on the wire (0 means 1.0), as every other client sends it.
    return new Latency(
        dev.matgto.v1.Latency.newBuilder().setMode(LatencyMode.LATENCY_AS_RECORDED).build());
  }

  /**
   * Like {@link #asRecorded()}, with the recorded times multiplied by {@code scale}: 2.0 waits
   * twice as long, 0.5 half as long (CLI {@code --latency-scale}).
   */
  public static Latency asRecorded(double scale) {
    if (!(scale > 0) || Double.isInfinite(scale)) {
      throw new IllegalArgumentException("a latency scale is a positive number: " + scale);
    }
    return new Latency(
        dev.matgto.v1.Latency.newBuilder()
            .setMode(LatencyMode.LATENCY_AS_RECORDED)
            .setScale(scale)
            .build());
  }

  /** Each response starts after {@code delay}. */
  public static Latency fixed(Duration delay) {
    return fixed(delay, Duration.ZERO);
  }

  /** Each response starts after {@code delay} ± {@code jitter} (uniformly). */
  public static Latency fixed(Duration delay, Duration jitter) {
    Objects.requireNonNull(delay, "delay");
    Objects.requireNonNull(jitter, "jitter");
    if (delay.isNegative() || jitter.isNegative()) {
      throw new IllegalArgumentException(
          "latency delay and jitter cannot be negative: " + delay + " ± " + jitter);
    }
    dev.matgto.v1.Latency.Builder b =
        dev.matgto.v1.Latency.newBuilder()
            .setMode(LatencyMode.LATENCY_FIXED)
            .setFixed(ProtoTime.toProto(delay));
    if (!jitter.isZero()) {
      b.setJitter(ProtoTime.toProto(jitter));
    }
    return new Latency(b.build());
  }

  private static final Pattern DURATION =
      Pattern.compile("(\\d+(?:\\.\\d*)?|\\.\\d+)\\s*(ns|us|µs|ms|s|m|h)");
  private static final Pattern FIXED =
      Pattern.compile("([^±+]+?)\\s*(?:(?:±|\\+-|\\+/-)\\s*(.+))?");

  /**
   * The CLI's syntax ({@code matgto replay --latency}): {@code "fast"}, {@code "as-recorded"}, or
   * a duration with an optional jitter: {@code "200ms"}, {@code "1.5s"}, {@code "100ms±50ms"}
   * ({@code +-} also works for {@code ±}). Units: ns, us, ms, s, m, h.
   *
   * @throws IllegalArgumentException for anything else
   */
  public static Latency parse(String text) {
    Objects.requireNonNull(text, "text");
    String t = text.trim().toLowerCase(Locale.ROOT);
    if (t.equals("fast")) {
      return fast();
    }
    if (t.equals("as-recorded") || t.equals("as_recorded") || t.equals("recorded")) {
      return asRecorded();
    }
    Matcher m = FIXED.matcher(t);
    if (!m.matches()) {
      throw new IllegalArgumentException(badLatency(text));
    }
    Duration delay = parseDuration(m.group(1), text);
    Duration jitter = m.group(2) == null ? Duration.ZERO : parseDuration(m.group(2), text);
    return fixed(delay, jitter);
  }

  private static Duration parseDuration(String s, String whole) {
    Matcher m = DURATION.matcher(s.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException(badLatency(whole));
    }
    BigDecimal n = new BigDecimal(m.group(1));
    long nanosPerUnit;
    switch (m.group(2)) {
      case "ns":
        nanosPerUnit = 1;
        break;
      case "us":
      case "µs":
        nanosPerUnit = 1_000;
        break;
      case "ms":
        nanosPerUnit = 1_000_000;
        break;
      case "s":
        nanosPerUnit = 1_000_000_000;
        break;
      case "m":
        nanosPerUnit = 60_000_000_000L;
        break;
      default:
        nanosPerUnit = 3_600_000_000_000L;
        break;
    }
    return Duration.ofNanos(n.multiply(BigDecimal.valueOf(nanosPerUnit)).longValue());
  }

  private static String badLatency(String text) {
    return "a latency is fast, as-recorded or a duration with an optional jitter (200ms,"
        + " 100ms±50ms): '" + text + "'";
  }

  /** Wraps the generated message as it is. */
  public static Latency of(dev.matgto.v1.Latency proto) {
    return new Latency(Objects.requireNonNull(proto, "proto"));
  }

  /** The mode ({@code LATENCY_MODE_UNSPECIFIED} means fast). */
  public LatencyMode mode() {
    return proto.getMode();
  }

  /** With {@code LATENCY_AS_RECORDED}: the factor applied to recorded times (1.0 when unset). */
  public double scale() {
    return proto.getScale() == 0 ? 1.0 : proto.getScale();
  }

  /** With {@code LATENCY_FIXED}: the delay before each response. */
  public Duration fixed() {
    return ProtoTime.toJava(proto.getFixed());
  }

  /** With {@code LATENCY_FIXED}: how far the delay may vary either way. */
  public Duration jitter() {
    return ProtoTime.toJava(proto.getJitter());
  }

  /** The wire message. */
  public dev.matgto.v1.Latency toProto() {
    return proto;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Latency && ((Latency) o).proto.equals(proto);
  }

  @Override
  public int hashCode() {
    return proto.hashCode();
  }

  /** Readable: {@code "fast"}, {@code "as-recorded x0.5"}, {@code "PT0.1S±PT0.05S"}. */
  @Override
  public String toString() {
    switch (proto.getMode()) {
      case LATENCY_AS_RECORDED:
        return scale() == 1.0 ? "as-recorded" : "as-recorded x" + scale();
      case LATENCY_FIXED:
        return jitter().isZero() ? fixed().toString() : fixed() + "±" + jitter();
      default:
        return "fast";
    }
  }
}
