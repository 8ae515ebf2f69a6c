package dev.matgto.client;

import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import dev.matgto.v1.ClearFaultsRequest;
import dev.matgto.v1.ClearFaultsResponse;
import dev.matgto.v1.GetStatusRequest;
import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.Mode;
import dev.matgto.v1.ProxyControlGrpc;
import dev.matgto.v1.RenewSessionRequest;
import dev.matgto.v1.RenewSessionResponse;
import dev.matgto.v1.ReplayRequest;
import dev.matgto.v1.ReplayResponse;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import dev.matgto.v1.SetFaultsRequest;
import dev.matgto.v1.SetFaultsResponse;
import dev.matgto.v1.StartRecordingRequest;
import dev.matgto.v1.StartRecordingResponse;
import dev.matgto.v1.StopRecordingRequest;
import dev.matgto.v1.StopRecordingResponse;
import dev.matgto.v1.UseCassetteRequest;
import dev.matgto.v1.UseCassetteResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A stand-in for the control API on 127.0.0.1 that records the requests it gets and answers the
 * session calls as CONTRACT.md describes, with switches to make a session vanish. For tests of the
 * client's own plumbing (what goes on the wire, lease renewal, a lost session); behaviour against
 * the real server is tested with {@link LocalServer}.
 */
final class FakeControlServer implements AutoCloseable {
  final List<Message> requests = new CopyOnWriteArrayList<>();
  final Map<String, SessionInfo> open = new ConcurrentHashMap<>();
  final List<SessionSummary> ended = new CopyOnWriteArrayList<>();
  final AtomicInteger renewals = new AtomicInteger();
  final List<Long> renewalNanos = new CopyOnWriteArrayList<>();
  /** Fault rules per session id ("" for the default session), and seeds. */
  final Map<String, List<dev.matgto.v1.Fault>> faults = new ConcurrentHashMap<>();
  final Map<String, Long> seeds = new ConcurrentHashMap<>();
  /** The authorization header of every call (null when absent), in order. */
  final List<java.util.Optional<String>> authorizations = new CopyOnWriteArrayList<>();
  private final AtomicInteger nextFault = new AtomicInteger(1);
  private final AtomicInteger nextId = new AtomicInteger(1);
  private final Server server;

  FakeControlServer() throws IOException {
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(io.grpc.ServerInterceptors.intercept(new Service(), new RecordAuth()))
            .build()
            .start();
  }

  String address() {
    return "127.0.0.1:" + server.getPort();
  }

  /** Ends session {@code id} as the server would: gone from open, listed as ended. */
  void end(String id, String reason) {
    SessionInfo s = open.remove(id);
    if (s != null) {
      ended.add(0, SessionSummary.newBuilder().setSession(s).setEndReason(reason)
          .setEndedAt(now()).setSavedPath("/cassettes/" + s.getCassette() + ".pb").build());
    }
  }

  @SuppressWarnings("unchecked")
  <T extends Message> List<T> requests(Class<T> type) {
    return (List<T>) (List<?>) requests.stream().filter(type::isInstance).toList();
  }

  private static Timestamp now() {
    Instant n = Instant.now();
    return Timestamp.newBuilder().setSeconds(n.getEpochSecond()).setNanos(n.getNano()).build();
  }

  private SessionInfo open(String cassette, Mode mode, boolean isNew, String session,
      com.google.protobuf.Duration lease, String owner) {
    if (!isNew) {
      return SessionInfo.newBuilder().setId("default").setCassette(cassette).setMode(mode)
          .setProxyAddress("127.0.0.1:8888").build();
    }
    String id = String.format("s-%016x", nextId.getAndIncrement());
    SessionInfo.Builder b = SessionInfo.newBuilder().setId(id).setCassette(cassette)
        .setMode(mode == Mode.AUTO ? Mode.RECORD : mode).setRequestedMode(mode)
        .setProxyAddress("127.0.0.1:1").setProxyUrl("http://" + id + "@127.0.0.1:8888")
        .setOwner(owner).setOpenedAt(now());
    if (lease != null) {
      b.setLease(lease).setLeaseExpiresAt(now());
    }
    SessionInfo s = b.build();
    open.put(id, s);
    return s;
  }

  private final class RecordAuth implements io.grpc.ServerInterceptor {
    private final io.grpc.Metadata.Key<String> key =
        io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <Q, R> io.grpc.ServerCall.Listener<Q> interceptCall(
        io.grpc.ServerCall<Q, R> call, io.grpc.Metadata headers,
        io.grpc.ServerCallHandler<Q, R> next) {
      authorizations.add(java.util.Optional.ofNullable(headers.get(key)));
      return next.startCall(call, headers);
    }
  }

  private final class Service extends ProxyControlGrpc.ProxyControlImplBase {
    @Override
    public void getStatus(GetStatusRequest req, StreamObserver<GetStatusResponse> out) {
      out.onNext(GetStatusResponse.newBuilder().setVersion("0.0.0-fake").setApiVersion(1)
          .addAllSessions(open.values().stream().map(i -> i.toBuilder()
              .addAllFaults(faults.getOrDefault(i.getId(), List.of()))
              .setFaultSeed(seeds.getOrDefault(i.getId(), 4242L)).build()).toList()).addAllEndedSessions(ended).setMaxSessions(256).build());
      out.onCompleted();
    }

    @Override
    public void useCassette(UseCassetteRequest req, StreamObserver<UseCassetteResponse> out) {
      requests.add(req);
      out.onNext(UseCassetteResponse.newBuilder().setSession(open(req.getName(), req.getMode(),
          req.getNewSession(), req.getSession(), req.hasLease() ? req.getLease() : null,
          req.getOwner())).build());
      out.onCompleted();
    }

    @Override
    public void startRecording(StartRecordingRequest req,
        StreamObserver<StartRecordingResponse> out) {
      requests.add(req);
      out.onNext(StartRecordingResponse.newBuilder().setSession(open(req.getName(), Mode.RECORD,
          req.getNewSession(), req.getSession(), req.hasLease() ? req.getLease() : null,
          req.getOwner())).build());
      out.onCompleted();
    }

    @Override
    public void replay(ReplayRequest req, StreamObserver<ReplayResponse> out) {
      requests.add(req);
      out.onNext(ReplayResponse.newBuilder().setSession(open(req.getName(), Mode.REPLAY,
          req.getNewSession(), req.getSession(), req.hasLease() ? req.getLease() : null,
          req.getOwner())).build());
      out.onCompleted();
    }

    @Override
    public void setFaults(SetFaultsRequest req, StreamObserver<SetFaultsResponse> out) {
      requests.add(req);
      String id = req.getSession();
      if (!id.isEmpty() && !open.containsKey(id)) {
        out.onError(Status.NOT_FOUND.withDescription("no session " + id).asRuntimeException());
        return;
      }
      for (dev.matgto.v1.Fault f : req.getFaultsList()) {
        if (f.getActionCase() == dev.matgto.v1.Fault.ActionCase.ACTION_NOT_SET) {
          out.onError(Status.INVALID_ARGUMENT.withDescription("fault without an action")
              .asRuntimeException());
          return;
        }
      }
      List<dev.matgto.v1.Fault> rules = faults.computeIfAbsent(id, k -> new CopyOnWriteArrayList<>());
      for (dev.matgto.v1.Fault f : req.getFaultsList()) {
        rules.add(f.toBuilder().setId("f" + nextFault.getAndIncrement()).clearApplied().build());
      }
      if (req.getSeed() != 0) {
        seeds.put(id, req.getSeed());
      }
      out.onNext(SetFaultsResponse.newBuilder().addAllFaults(rules)
          .setSeed(seeds.getOrDefault(id, 4242L)).build());
      out.onCompleted();
    }

    @Override
    public void clearFaults(ClearFaultsRequest req, StreamObserver<ClearFaultsResponse> out) {
      requests.add(req);
      String id = req.getSession();
      if (!id.isEmpty() && !open.containsKey(id)) {
        out.onError(Status.NOT_FOUND.withDescription("no session " + id).asRuntimeException());
        return;
      }
      List<dev.matgto.v1.Fault> rules = faults.computeIfAbsent(id, k -> new CopyOnWriteArrayList<>());
      for (String f : req.getIdsList()) {
        if (rules.stream().noneMatch(r -> r.getId().equals(f))) {
          out.onError(Status.NOT_FOUND.withDescription("session has no fault " + f)
              .asRuntimeException());
          return;
        }
      }
      if (req.getIdsCount() == 0) {
        rules.clear();
      } else {
        rules.removeIf(r -> req.getIdsList().contains(r.getId()));
      }
      out.onNext(ClearFaultsResponse.newBuilder().addAllFaults(rules).build());
      out.onCompleted();
    }

    @Override
    public void renewSession(RenewSessionRequest req, StreamObserver<RenewSessionResponse> out) {
      requests.add(req);
      if (!open.containsKey(req.getSession())) {
        out.onError(Status.NOT_FOUND.withDescription("no session " + req.getSession())
            .asRuntimeException());
        return;
      }
      renewals.incrementAndGet();
      renewalNanos.add(System.nanoTime());
      out.onNext(RenewSessionResponse.newBuilder().setLeaseExpiresAt(now()).build());
      out.onCompleted();
    }

    @Override
    public void stopRecording(StopRecordingRequest req, StreamObserver<StopRecordingResponse> out) {
      requests.add(req);
      if (req.getSession().isEmpty()) { // the default session
        out.onNext(StopRecordingResponse.newBuilder().setSummary(SessionSummary.newBuilder()
            .setSession(SessionInfo.newBuilder().setId("default")).setEndReason("stopped"))
            .build());
        out.onCompleted();
        return;
      }
      SessionInfo s = open.get(req.getSession());
      if (s == null) {
        out.onError(Status.NOT_FOUND.withDescription("no session " + req.getSession())
            .asRuntimeException());
        return;
      }
      end(req.getSession(), "stopped");
      out.onNext(StopRecordingResponse.newBuilder().setSummary(ended.get(0)).build());
      out.onCompleted();
    }
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }
}
