package dev.matgto.client;

import java.time.Duration;
import java.util.Objects;

/**
 * Options of a cassette session, for {@link MatgtoClient#startRecording(String, CassetteOptions)},
 * {@link MatgtoClient#replay(String, CassetteOptions)} and {@link MatgtoClient#useCassette(String,
 * Mode, CassetteOptions)} (the flags of {@code matgto record --help}). A recording stores them
 * with the cassette; on replay the fields that are set override the stored ones for that session
 * only, and the others keep the stored values.
 *
 * <pre>{@code
 * CassetteOptions opts = CassetteOptions.builder()
 *     .onMiss(MissPolicy.RECORD)
 *     .repeat(RepeatPolicy.REUSE)
 *     .match(MatchRules.builder().body(BodyMatch.JSON).ignoreJsonPointers("/meta/ts").build())
 *     .redact(RedactRules.builder().queryParams("token").build())
 *     .latency(Latency.fixed(Duration.ofMillis(200)))
 *     .build();
 * }</pre>
 *
 * <p>The escape hatch {@link #builder(dev.matgto.v1.CassetteOptions)} starts from the generated
 * message, so that every field the server knows is reachable. Instances are immutable.
 */
public final class CassetteOptions {
  private static final CassetteOptions NONE =
      new CassetteOptions(dev.matgto.v1.CassetteOptions.getDefaultInstance());

  private final dev.matgto.v1.CassetteOptions proto;

  private CassetteOptions(dev.matgto.v1.CassetteOptions proto) {
    this.proto = proto;
  }

  /** No option set: the cassette's stored options (or the server defaults) apply. */
  public static CassetteOptions none() {
    return NONE;
  }

  /** Wraps the generated message as it is. */
  public static CassetteOptions of(dev.matgto.v1.CassetteOptions proto) {
    return new CassetteOptions(Objects.requireNonNull(proto, "proto"));
  }

  public static Builder builder() {
    return new Builder(dev.matgto.v1.CassetteOptions.newBuilder());
  }

  /** A builder starting from the generated message (the escape hatch). */
  public static Builder builder(dev.matgto.v1.CassetteOptions base) {
    return new Builder(Objects.requireNonNull(base, "base").toBuilder());
  }

  /** A builder starting from these options. */
  public Builder toBuilder() {
    return builder(proto);
  }

  /** The wire message. */
  public dev.matgto.v1.CassetteOptions toProto() {
    return proto;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CassetteOptions && ((CassetteOptions) o).proto.equals(proto);
  }

  @Override
  public int hashCode() {
    return proto.hashCode();
  }

  @Override
  public String toString() {
    return "CassetteOptions{" + proto.toString().trim().replace('\n', ' ') + "}";
  }

  /** Builds {@link CassetteOptions}; each setter replaces what was set before. */
  public static final class Builder {
    private final dev.matgto.v1.CassetteOptions.Builder proto;

    private Builder(dev.matgto.v1.CassetteOptions.Builder proto) {
      this.proto = proto;
    }

    /** What replay does once every recorded answer to a request has been used. */
    public Builder onExhausted(ExhaustedPolicy policy) {
      proto.setOnExhausted(policy.toProto());
      return this;
    }

    /** How recorded interactions are consumed: sequential or reuse. */
    public Builder repeat(RepeatPolicy policy) {
      proto.setRepeat(policy.toProto());
      return this;
    }

    /** What replay does with a request nothing matches: error, passthrough or record. */
    public Builder onMiss(MissPolicy policy) {
      proto.setOnMiss(policy.toProto());
      return this;
    }

    /** Which requests are "the same". */
    public Builder match(MatchRules rules) {
      proto.setMatchRules(rules.toProto());
      return this;
    }

    /** What is redacted before anything is written. */
    public Builder redact(RedactRules rules) {
      proto.setRedact(rules.toProto());
      return this;
    }

    /**
     * {@code true}: store gzip/deflate/br bodies decoded (readable cassettes); {@code false}: as
     * sent on the wire.
     */
    public Builder storeDecoded(boolean decoded) {
      proto.setBodyStorage(
          decoded ? dev.matgto.v1.BodyStorage.DECODED : dev.matgto.v1.BodyStorage.AS_SENT);
      return this;
    }

    /** How replay paces the server messages of WebSocket sessions. */
    public Builder wsTiming(WsTiming timing) {
      proto.setWsTiming(timing.toProto());
      return this;
    }

    /** With {@link WsTiming#AS_RECORDED}: 2 replays twice as fast. */
    public Builder wsSpeed(double speed) {
      if (!(speed >= 0) || Double.isInfinite(speed)) {
        throw new IllegalArgumentException("WebSocket speed must be a positive number: " + speed);
      }
      proto.setWsSpeed(speed);
      return this;
    }

    /**
     * How replay paces streamed HTTP bodies (Server-Sent Events, chunked bodies): {@link
     * WsTiming#FAST} (the server's default) sends the recorded pieces at once, {@link
     * WsTiming#AS_RECORDED} keeps the recorded gaps (divided by {@link #streamSpeed(double)}).
     */
    public Builder streamTiming(WsTiming timing) {
      proto.setStreamTiming(timing.toProto());
      return this;
    }

    /** With {@code streamTiming(WsTiming.AS_RECORDED)}: 2 replays twice as fast. */
    public Builder streamSpeed(double speed) {
      if (!(speed >= 0) || Double.isInfinite(speed)) {
        throw new IllegalArgumentException("stream speed must be a positive number: " + speed);
      }
      proto.setStreamSpeed(speed);
      return this;
    }

    /**
     * How fast replay answers: {@link Latency#fast()} (the default), {@link
     * Latency#asRecorded(double)}, {@link Latency#fixed(Duration, Duration)}. Stored with a
     * recording; on replay it overrides the stored latency for this session only.
     */
    public Builder latency(Latency latency) {
      proto.setLatency(Objects.requireNonNull(latency, "latency").toProto());
      return this;
    }

    public CassetteOptions build() {
      return new CassetteOptions(proto.build());
    }
  }
}
