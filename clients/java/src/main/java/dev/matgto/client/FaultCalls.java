package dev.matgto.client;

import dev.matgto.v1.ClearFaultsRequest;
import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SetFaultsRequest;
import dev.matgto.v1.SetFaultsResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The fault-injection calls behind {@link MatgtoClient#setFaults}, {@link
 * MatgtoClient#clearFaults}, {@link MatgtoClient#faults} and {@link MatgtoClient#faultSeed}: {@code
 * SetFaults}, {@code ClearFaults} (with its NOT_FOUND told apart: unknown rule or unknown session)
 * and a session's rules read from {@code GetStatus}. Session ids are the client's: "default" or
 * empty names the default session.
 */
final class FaultCalls {
  private final ControlChannel control;

  FaultCalls(ControlChannel control) {
    this.control = control;
  }

  /** Adds {@code faults} to session {@code sessionId}, reseeded first unless {@code seed} is 0. */
  Faults set(String sessionId, long seed, List<Fault> faults) {
    String id = wireSessionId(sessionId);
    Objects.requireNonNull(faults, "faults");
    SetFaultsRequest req =
        SetFaultsRequest.newBuilder()
            .setSession(id)
            .addAllFaults(Fault.toProtos(faults))
            .setSeed(seed)
            .build();
    SetFaultsResponse r = control.callNamingSession(id, stub -> stub.setFaults(req));
    return new Faults(Fault.fromProtos(r.getFaultsList()), r.getSeed());
  }

  /** Removes session {@code sessionId}'s rules named by {@code ids} (all when none is named). */
  List<Fault> clear(String sessionId, List<String> ids) {
    String id = wireSessionId(sessionId);
    Objects.requireNonNull(ids, "ids");
    ClearFaultsRequest req = ClearFaultsRequest.newBuilder().setSession(id).addAllIds(ids).build();
    control.ensureCompatible();
    try {
      return Fault.fromProtos(control.stub().clearFaults(req).getFaultsList());
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
        throw MatgtoException.fromGrpc(e);
      }
      String named = id.isEmpty() ? SessionInfos.DEFAULT_SESSION_ID : id;
      // NOT_FOUND is an unknown id or an unknown session: the default session always exists, and
      // another one is open exactly when GetStatus lists it.
      boolean sessionOpen;
      try {
        sessionOpen = id.isEmpty() || openSession(control.status(), id).isPresent();
      } catch (MatgtoException statusFailed) {
        e.addSuppressed(statusFailed);
        sessionOpen = !ids.isEmpty();
      }
      MatgtoException.NotFound about =
          sessionOpen && !ids.isEmpty()
              ? MatgtoException.NotFound.FAULT
              : MatgtoException.NotFound.SESSION;
      throw MatgtoException.fromStatus(e.getStatus(), e, about, named, ids);
    }
  }

  /**
   * Session {@code sessionId} from GetStatus. GetStatus leaves out the default session while it
   * has no cassette in use, but its rules still apply (to what the shared port forwards): they
   * are then read with a {@code SetFaults} that adds nothing and keeps the seed.
   *
   * @throws SessionNotFoundException when no session {@code sessionId} is open
   */
  SessionInfo sessionInfo(String sessionId) {
    String id = wireSessionId(sessionId);
    GetStatusResponse status = control.status();
    if (id.isEmpty()) {
      if (status.hasSession()) {
        return status.getSession();
      }
      Faults f = set("", 0, List.of());
      return SessionInfo.newBuilder().setId(SessionInfos.DEFAULT_SESSION_ID)
          .addAllFaults(Fault.toProtos(f.rules())).setFaultSeed(f.seed()).build();
    }
    return openSession(status, id)
        .orElseThrow(
            () ->
                new SessionNotFoundException(id, "no open session " + id + " in GetStatus", null));
  }

  /** The open session {@code id} among those {@code status} lists. */
  private static Optional<SessionInfo> openSession(GetStatusResponse status, String id) {
    for (SessionInfo s : status.getSessionsList()) {
      if (s.getId().equals(id)) {
        return Optional.of(s);
      }
    }
    return Optional.empty();
  }

  /** "default" (or empty) names the default session, which the wire calls "". */
  private static String wireSessionId(String sessionId) {
    Objects.requireNonNull(sessionId, "sessionId");
    return sessionId.equals(SessionInfos.DEFAULT_SESSION_ID) ? "" : sessionId;
  }
}
