// The gRPC control API (matgto.v1.ProxyControl). Each method validates its
// input, calls the session manager, and maps the result; none blocks for
// long (cassette loads and saves are the longest operations).
#pragma once

#include <functional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "matgto/v1/control.grpc.pb.h"
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
class ControlService final : public v1::ProxyControl::Service {
 public:
  // `request_shutdown` is called (from a gRPC thread) by the Shutdown RPC;
  // it must only signal, never block.
  ControlService(replay::SessionManager& sessions, ServerIdentity identity,
                 std::function<void(absl::Duration grace)> request_shutdown);

  void SetControlAddress(std::string address);

  grpc::Status StartRecording(grpc::ServerContext*,
                              const v1::StartRecordingRequest*,
                              v1::StartRecordingResponse*) override;
  grpc::Status StopRecording(grpc::ServerContext*,
                             const v1::StopRecordingRequest*,
                             v1::StopRecordingResponse*) override;
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

 private:
  replay::SessionManager& sessions_;
  const ServerIdentity identity_;
  const std::function<void(absl::Duration)> request_shutdown_;
  mutable absl::Mutex mu_;
  std::string control_address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::control
