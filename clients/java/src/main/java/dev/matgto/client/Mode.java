package dev.matgto.client;

/** How a cassette is used. Mirrors {@code matgto.v1.Mode} without its unspecified value. */
public enum Mode {
  /** Replay when the cassette exists, record it otherwise. */
  AUTO(dev.matgto.v1.Mode.AUTO),
  /** Forward to the real upstream and record, overwriting the cassette. */
  RECORD(dev.matgto.v1.Mode.RECORD),
  /** Answer from the cassette only; the cassette must exist. */
  REPLAY(dev.matgto.v1.Mode.REPLAY),
  /** Forward to the real upstream and record nothing. */
  PASSTHROUGH(dev.matgto.v1.Mode.PASSTHROUGH);

  private final dev.matgto.v1.Mode proto;

  Mode(dev.matgto.v1.Mode proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.Mode toProto() {
    return proto;
  }

  /**
   * The client mode for a wire value.
   *
   * @throws IllegalArgumentException for {@code MODE_UNSPECIFIED} or an unknown value
   */
  public static Mode fromProto(dev.matgto.v1.Mode proto) {
    for (Mode m : values()) {
      if (m.proto == proto) {
        return m;
      }
    }
    throw new IllegalArgumentException("no client mode for " + proto);
  }
}
