// The gRPC control API (matgto.v1.ProxyControl). Each method validates its
// input, calls the session manager or the cassette store, and maps the
// result; none blocks for long (cassette loads and saves are the longest
// operations).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "matgto/v1/control.grpc.pb.h"
#include "server/cassette/store.h"
#include "server/control/auth.h"
#include "server/observe/event_bus.h"
#include "server/replay/session_manager.h"

namespace matgto::control {

// What GetStatus reports about the server itself.
struct ServerIdentity {
  std::string proxy_address;
  std::string cassette_dir;
  absl::Time started_at;
  // PEM of the interception CA; empty when interception is off.
  std::string ca_pem;
  v1::TlsStatus tls;
  std::string reverse_upstream;
};

// Thread-safety: gRPC calls the methods concurrently; the service holds no
// mutable state except the control address (set once after start, guarded).
//
// Access: with `tokens`, every method starts with Authorize() (the caller's
// token and the RPC's scope from RpcRules()), then checks what it acts on
// (the cassette's name against the token's prefix, the session's
// cassette); without, every call may do everything (loopback use).
class ControlService final : public v1::ProxyControl::Service {
 public:
  // GetCassette sends the cassette in chunks of at most this many bytes.
  static constexpr size_t kChunkBytes = size_t{1} << 20;
  // PutCassette refuses (RESOURCE_EXHAUSTED) a cassette larger than this.
  static constexpr size_t kMaxCassetteBytes = size_t{1} << 30;

  // `store` is the one the session manager uses (cassette management RPCs
  // go straight to it). `request_shutdown` is called (from a gRPC thread) by
  // the Shutdown RPC; it must only signal, never block.
  ControlService(replay::SessionManager& sessions,
                 cassette::CassetteStore& store, ServerIdentity identity,
                 std::function<void(absl::Duration grace)> request_shutdown,
                 std::optional<TokenTable> tokens = std::nullopt);

  void SetControlAddress(std::string address);

  grpc::Status StartRecording(grpc::ServerContext*,
                              const v1::StartRecordingRequest*,
                              v1::StartRecordingResponse*) override;
  grpc::Status StopRecording(grpc::ServerContext*,
                             const v1::StopRecordingRequest*,
                             v1::StopRecordingResponse*) override;
  grpc::Status SetFaults(grpc::ServerContext*, const v1::SetFaultsRequest*,
                         v1::SetFaultsResponse*) override;
  grpc::Status ClearFaults(grpc::ServerContext*, const v1::ClearFaultsRequest*,
                           v1::ClearFaultsResponse*) override;
  grpc::Status RenewSession(grpc::ServerContext*,
                            const v1::RenewSessionRequest*,
                            v1::RenewSessionResponse*) override;
  grpc::Status Replay(grpc::ServerContext*, const v1::ReplayRequest*,
                      v1::ReplayResponse*) override;
  grpc::Status UseCassette(grpc::ServerContext*, const v1::UseCassetteRequest*,
                           v1::UseCassetteResponse*) override;
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::GetStatusResponse*) override;
  grpc::Status Shutdown(grpc::ServerContext*, const v1::ShutdownRequest*,
                        v1::ShutdownResponse*) override;
  grpc::Status GetCACertificate(grpc::ServerContext*,
                                const v1::GetCACertificateRequest*,
                                v1::GetCACertificateResponse*) override;

  grpc::Status ListCassettes(grpc::ServerContext*,
                             const v1::ListCassettesRequest*,
                             v1::ListCassettesResponse*) override;
  grpc::Status GetCassette(grpc::ServerContext*, const v1::GetCassetteRequest*,
                           grpc::ServerWriter<v1::CassetteChunk>*) override;
  grpc::Status PutCassette(grpc::ServerContext*,
                           grpc::ServerReader<v1::CassetteChunk>*,
                           v1::PutCassetteResponse*) override;
  grpc::Status DeleteCassette(grpc::ServerContext*,
                              const v1::DeleteCassetteRequest*,
                              v1::DeleteCassetteResponse*) override;

  // The live event stream (watch_events.cc). UNAVAILABLE when no event bus
  // was set.
  void SetEventBus(observe::EventBus* bus) { events_ = bus; }
  grpc::Status WatchEvents(grpc::ServerContext*, const v1::WatchEventsRequest*,
                           grpc::ServerWriter<v1::Event>*) override;

 private:
  // Reads, checks and stores the chunks of one PutCassette call.
  absl::Status Put(const Grant& grant,
                   grpc::ServerReaderInterface<v1::CassetteChunk>& reader,
                   v1::CassetteInfo& saved_info);
  // Authenticates the call (UNAUTHENTICATED) and checks that its token has
  // at least the scope RpcRules() gives `method` (PERMISSION_DENIED).
  absl::StatusOr<Grant> Authorize(const grpc::ServerContext& context,
                                  absl::string_view method) const;
  // The open session `id` (empty: the default one) as `grant` may see it:
  // PERMISSION_DENIED when the token's prefix does not cover its cassette,
  // or when a prefix-limited token names a session with no cassette (or an
  // unknown one); nullopt when an unlimited token names a session with no
  // cassette in use (the session manager then answers).
  absl::StatusOr<std::optional<v1::SessionInfo>> VisibleSession(
      const Grant& grant, absl::string_view id, absl::string_view rpc) const;
  // Session part of StartRecording/Replay/UseCassette.
  template <class Request, class Response>
  grpc::Status UseFor(grpc::ServerContext& context, absl::string_view rpc,
                      const Request& request, v1::Mode mode,
                      Response& response);
  // Authorization of StopRecording/RenewSession/SetFaults/ClearFaults;
  // `changes`: false for a call that only reads (SetFaults with no rule).
  absl::Status AuthorizeSessionCall(grpc::ServerContext& context,
                                    absl::string_view rpc,
                                    absl::string_view session,
                                    bool changes = true) const;

  replay::SessionManager& sessions_;
  cassette::CassetteStore& store_;
  const ServerIdentity identity_;
  const std::function<void(absl::Duration)> request_shutdown_;
  const std::optional<TokenTable> tokens_;
  mutable absl::Mutex mu_;
  std::string control_address_ ABSL_GUARDED_BY(mu_);
  // Set once before the server starts.
  observe::EventBus* events_ = nullptr;
};

}  // namespace matgto::control
