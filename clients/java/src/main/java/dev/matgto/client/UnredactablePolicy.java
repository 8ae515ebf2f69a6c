package dev.matgto.client;

/**
 * What a recording does with an exchange whose body a redaction rule cannot be applied to, e.g. an
 * unknown {@code Content-Encoding} (CLI: {@code --on-unredactable}).
 */
public enum UnredactablePolicy {
  /** Leave it to the server (it warns). */
  DEFAULT(dev.matgto.v1.UnredactablePolicy.UNREDACTABLE_POLICY_UNSPECIFIED),
  /** Store the exchange and add a warning to the session summary. */
  WARN(dev.matgto.v1.UnredactablePolicy.UNREDACTABLE_WARN),
  /** Do not store the exchange (and warn). */
  REFUSE(dev.matgto.v1.UnredactablePolicy.UNREDACTABLE_REFUSE);

  private final dev.matgto.v1.UnredactablePolicy proto;

  UnredactablePolicy(dev.matgto.v1.UnredactablePolicy proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.UnredactablePolicy toProto() {
    return proto;
  }
}
