package dev.matgto.client;

/** How request bodies are compared (CLI: {@code --match-body}). */
public enum BodyMatch {
  /**
   * Exact, unless ignored JSON pointers (then {@link #JSON}) or ignored form fields (then {@link
   * #FORM}) are given.
   */
  DEFAULT(dev.matgto.v1.BodyMatch.BODY_MATCH_UNSPECIFIED),
  /** Byte for byte (after content decoding). */
  EXACT(dev.matgto.v1.BodyMatch.BODY_EXACT),
  /** Semantically equal JSON: key order and whitespace ignored, numbers compared as numbers. */
  JSON(dev.matgto.v1.BodyMatch.BODY_JSON),
  /** {@code application/x-www-form-urlencoded} fields, in any order. */
  FORM(dev.matgto.v1.BodyMatch.BODY_FORM),
  /** Bodies are not compared. */
  IGNORE(dev.matgto.v1.BodyMatch.BODY_IGNORE);

  private final dev.matgto.v1.BodyMatch proto;

  BodyMatch(dev.matgto.v1.BodyMatch proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.BodyMatch toProto() {
    return proto;
  }
}
