package dev.matgto.client;

/** What replay does once every recorded answer to a request has been used (CLI: {@code --on-exhausted}). */
public enum ExhaustedPolicy {
  /** Keep the cassette's stored policy (server default: {@link #REPEAT_LAST}). */
  DEFAULT(dev.matgto.v1.ExhaustedPolicy.EXHAUSTED_POLICY_UNSPECIFIED),
  /** Keep answering with the last recorded response. */
  REPEAT_LAST(dev.matgto.v1.ExhaustedPolicy.REPEAT_LAST),
  /** Answer with a no-match error (HTTP 599). */
  ERROR(dev.matgto.v1.ExhaustedPolicy.EXHAUSTED_ERROR);

  private final dev.matgto.v1.ExhaustedPolicy proto;

  ExhaustedPolicy(dev.matgto.v1.ExhaustedPolicy proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.ExhaustedPolicy toProto() {
    return proto;
  }
}
