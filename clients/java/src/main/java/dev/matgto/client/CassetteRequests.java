package dev.matgto.client;

import dev.matgto.v1.ReplayRequest;
import dev.matgto.v1.StartRecordingRequest;
import dev.matgto.v1.UseCassetteRequest;
import java.util.Objects;

/**
 * The requests {@code startRecording}, {@code replay} and {@code useCassette} send, built from
 * the client's options (the conformance suite checks them: sessions.json).
 */
final class CassetteRequests {
  private CassetteRequests() {}

  /** The message a request carries for {@code options}: null when nothing is set. */
  static dev.matgto.v1.CassetteOptions proto(CassetteOptions options) {
    if (options == null
        || options.toProto().equals(dev.matgto.v1.CassetteOptions.getDefaultInstance())) {
      return null; // nothing set: the request carries no options at all
    }
    return options.toProto();
  }

  /** The request {@code startRecording} sends. */
  static StartRecordingRequest startRecordingRequest(
      String name, dev.matgto.v1.CassetteOptions options, SessionOptions session) {
    SessionOptions so = sessionOrDefault(session);
    StartRecordingRequest.Builder req =
        StartRecordingRequest.newBuilder()
            .setName(Objects.requireNonNull(name, "cassette name"))
            .setSession(so.session())
            .setNewSession(so.isNewSession())
            .setOwner(so.owner());
    if (so.leaseProto() != null) {
      req.setLease(so.leaseProto());
    }
    if (options != null) {
      req.setOptions(options);
    }
    return req.build();
  }

  /** The request {@code replay} sends. */
  static ReplayRequest replayRequest(
      String name, dev.matgto.v1.CassetteOptions options, SessionOptions session) {
    SessionOptions so = sessionOrDefault(session);
    ReplayRequest.Builder req =
        ReplayRequest.newBuilder()
            .setName(Objects.requireNonNull(name, "cassette name"))
            .setSession(so.session())
            .setNewSession(so.isNewSession())
            .setOwner(so.owner());
    if (so.leaseProto() != null) {
      req.setLease(so.leaseProto());
    }
    if (options != null) {
      req.setOptions(options);
    }
    return req.build();
  }

  /** The request {@code useCassette} sends. */
  static UseCassetteRequest useCassetteRequest(
      String name, Mode mode, dev.matgto.v1.CassetteOptions options, SessionOptions session) {
    SessionOptions so = sessionOrDefault(session);
    UseCassetteRequest.Builder req =
        UseCassetteRequest.newBuilder()
            .setName(Objects.requireNonNull(name, "cassette name"))
            .setMode(mode.toProto())
            .setSession(so.session())
            .setNewSession(so.isNewSession())
            .setOwner(so.owner());
    if (so.leaseProto() != null) {
      req.setLease(so.leaseProto());
    }
    if (options != null) {
      req.setOptions(options);
    }
    return req.build();
  }

  private static SessionOptions sessionOrDefault(SessionOptions session) {
    return session == null ? SessionOptions.defaultSession() : session;
  }
}
