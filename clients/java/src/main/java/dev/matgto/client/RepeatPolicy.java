package dev.matgto.client;

/** How recorded interactions are consumed in replay (CLI: {@code --repeat}). */
public enum RepeatPolicy {
  /** Keep the cassette's stored policy (server default: {@link #SEQUENTIAL}). */
  DEFAULT(dev.matgto.v1.RepeatPolicy.REPEAT_POLICY_UNSPECIFIED),
  /**
   * Each recorded interaction answers once, in recorded order among equal requests; then the
   * {@link ExhaustedPolicy} decides.
   */
  SEQUENTIAL(dev.matgto.v1.RepeatPolicy.SEQUENTIAL),
  /** Any matching interaction answers, any number of times. */
  REUSE(dev.matgto.v1.RepeatPolicy.REUSE);

  private final dev.matgto.v1.RepeatPolicy proto;

  RepeatPolicy(dev.matgto.v1.RepeatPolicy proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.RepeatPolicy toProto() {
    return proto;
  }
}
