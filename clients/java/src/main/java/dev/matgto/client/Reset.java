package dev.matgto.client;

/** Where a {@link Fault#reset(Reset)} fault breaks the connection (TCP RST). */
public enum Reset {
  /** Nothing is sent: the client sees the connection reset before any answer. */
  BEFORE_HEADERS(dev.matgto.v1.ResetFault.When.BEFORE_HEADERS),
  /** The status line and headers are sent, then the connection breaks. */
  AFTER_HEADERS(dev.matgto.v1.ResetFault.When.AFTER_HEADERS),
  /** Half the body is sent, then the connection breaks. */
  MID_BODY(dev.matgto.v1.ResetFault.When.MID_BODY);

  private final dev.matgto.v1.ResetFault.When proto;

  Reset(dev.matgto.v1.ResetFault.When proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.ResetFault.When toProto() {
    return proto;
  }

  /** The enum for a wire value ({@code WHEN_UNSPECIFIED} means {@link #BEFORE_HEADERS}). */
  public static Reset fromProto(dev.matgto.v1.ResetFault.When when) {
    switch (when) {
      case AFTER_HEADERS:
        return AFTER_HEADERS;
      case MID_BODY:
        return MID_BODY;
      default:
        return BEFORE_HEADERS;
    }
  }
}
