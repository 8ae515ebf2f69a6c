package dev.matgto.client;

/**
 * How replay paces the server messages of a WebSocket session (CLI: {@code --ws-timing}), or the
 * pieces of a streamed HTTP body (CLI: {@code --stream-timing}).
 */
public enum WsTiming {
  /** Keep the cassette's stored pacing (server default: {@link #FAST}). */
  DEFAULT(dev.matgto.v1.WsTiming.WS_TIMING_UNSPECIFIED),
  /** Send each server message as soon as the script reaches it. */
  FAST(dev.matgto.v1.WsTiming.AS_FAST_AS_POSSIBLE),
  /** Keep the recorded gaps between messages (divided by the speed). */
  AS_RECORDED(dev.matgto.v1.WsTiming.AS_RECORDED);

  private final dev.matgto.v1.WsTiming proto;

  WsTiming(dev.matgto.v1.WsTiming proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.WsTiming toProto() {
    return proto;
  }
}
