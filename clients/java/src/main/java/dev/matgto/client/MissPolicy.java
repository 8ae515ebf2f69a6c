package dev.matgto.client;

/** What replay does with a request that nothing matches (CLI: {@code --on-miss}). */
public enum MissPolicy {
  /** Keep the cassette's stored policy (server default: {@link #ERROR}). */
  DEFAULT(dev.matgto.v1.MissPolicy.MISS_POLICY_UNSPECIFIED),
  /** Answer 599 with the explanation (a {@code matgto.v1.ProxyError} JSON body). */
  ERROR(dev.matgto.v1.MissPolicy.MISS_ERROR),
  /** Forward the request to the real upstream, record nothing. */
  PASSTHROUGH(dev.matgto.v1.MissPolicy.MISS_PASSTHROUGH),
  /** Forward the request and append the new exchange to the cassette ("new episodes"). */
  RECORD(dev.matgto.v1.MissPolicy.MISS_RECORD);

  private final dev.matgto.v1.MissPolicy proto;

  MissPolicy(dev.matgto.v1.MissPolicy proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.matgto.v1.MissPolicy toProto() {
    return proto;
  }
}
