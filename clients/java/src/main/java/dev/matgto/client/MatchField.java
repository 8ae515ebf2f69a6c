package dev.matgto.client;

/** A part of a request that matching compares (CLI: {@code --match-fields}). */
public enum MatchField {
  METHOD(dev.matgto.v1.MatchField.METHOD),
  SCHEME(dev.matgto.v1.MatchField.SCHEME),
  HOST(dev.matgto.v1.MatchField.HOST),
  PORT(dev.matgto.v1.MatchField.PORT),
  PATH(dev.matgto.v1.MatchField.PATH),
  QUERY(dev.matgto.v1.MatchField.QUERY),
  /** The headers named in {@link MatchRules#headers()}. */
  HEADERS(dev.matgto.v1.MatchField.HEADERS),
  BODY(dev.matgto.v1.MatchField.BODY);

  private final dev.matgto.v1.MatchField proto;

  MatchField(dev.matgto.v1.MatchField proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.MatchField toProto() {
    return proto;
  }
}
