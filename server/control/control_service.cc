#include "server/control/control_service.h"

#include "google/protobuf/util/time_util.h"
#include "server/control/grpc_status.h"

namespace matgto::control {
namespace {

using google::protobuf::util::TimeUtil;

constexpr absl::Duration kDefaultGrace = absl::Seconds(5);
constexpr absl::Duration kMaxGrace = absl::Minutes(5);
constexpr uint32_t kApiVersion = 1;

}  // namespace

ControlService::ControlService(
    replay::SessionManager& sessions, ServerIdentity identity,
    std::function<void(absl::Duration grace)> request_shutdown)
    : sessions_(sessions),
      identity_(std::move(identity)),
      request_shutdown_(std::move(request_shutdown)) {}

void ControlService::SetControlAddress(std::string address) {
  absl::MutexLock lock(&mu_);
  control_address_ = std::move(address);
}

grpc::Status ControlService::StartRecording(
    grpc::ServerContext*, const v1::StartRecordingRequest* request,
    v1::StartRecordingResponse* response) {
  auto info = sessions_.Use(request->name(), v1::RECORD, request->options());
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_session() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status ControlService::StopRecording(grpc::ServerContext*,
                                           const v1::StopRecordingRequest*,
                                           v1::StopRecordingResponse* response) {
  auto summary = sessions_.Stop();
  if (!summary.ok()) return ToGrpcStatus(summary.status());
  *response->mutable_summary() = *std::move(summary);
  return grpc::Status::OK;
}

grpc::Status ControlService::Replay(grpc::ServerContext*,
                                    const v1::ReplayRequest* request,
                                    v1::ReplayResponse* response) {
  auto info = sessions_.Use(request->name(), v1::REPLAY, request->options());
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_session() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status ControlService::UseCassette(grpc::ServerContext*,
                                         const v1::UseCassetteRequest* request,
                                         v1::UseCassetteResponse* response) {
  auto info = sessions_.Use(request->name(), request->mode(), request->options());
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_session() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status ControlService::GetStatus(grpc::ServerContext*,
                                       const v1::GetStatusRequest*,
                                       v1::GetStatusResponse* response) {
  response->set_version(MATGTO_VERSION);
  response->set_api_version(kApiVersion);
  response->set_proxy_address(identity_.proxy_address);
  {
    absl::MutexLock lock(&mu_);
    response->set_control_address(control_address_);
  }
  response->set_cassette_dir(identity_.cassette_dir);
  response->set_default_mode(sessions_.default_mode());
  if (auto info = sessions_.Info()) *response->mutable_session() = *std::move(info);
  *response->mutable_tls() = identity_.tls;
  response->set_reverse_upstream(identity_.reverse_upstream);
  *response->mutable_uptime() = TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(absl::Now() - identity_.started_at));
  return grpc::Status::OK;
}

grpc::Status ControlService::Shutdown(grpc::ServerContext*,
                                      const v1::ShutdownRequest* request,
                                      v1::ShutdownResponse*) {
  absl::Duration grace = kDefaultGrace;
  if (request->has_grace()) {
    if (request->grace().seconds() < 0 || request->grace().nanos() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "shutdown grace period cannot be negative");
    }
    grace = std::min(kMaxGrace,
                     absl::Nanoseconds(TimeUtil::DurationToNanoseconds(
                         request->grace())));
  }
  request_shutdown_(grace);
  return grpc::Status::OK;
}

grpc::Status ControlService::GetCACertificate(
    grpc::ServerContext*, const v1::GetCACertificateRequest*,
    v1::GetCACertificateResponse* response) {
  if (identity_.ca_pem.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "HTTPS interception is off on this server, so it has "
                        "no CA certificate");
  }
  response->set_pem(identity_.ca_pem);
  return grpc::Status::OK;
}

}  // namespace matgto::control
