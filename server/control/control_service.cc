#include "server/control/control_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/name.h"
#include "server/control/grpc_status.h"
#include "server/core/status_macros.h"

namespace matgto::control {
namespace {

using google::protobuf::util::TimeUtil;

constexpr absl::Duration kDefaultGrace = absl::Seconds(5);
constexpr absl::Duration kMaxGrace = absl::Minutes(5);
constexpr uint32_t kApiVersion = 1;

}  // namespace

ControlService::ControlService(
    replay::SessionManager& sessions, cassette::CassetteStore& store,
    ServerIdentity identity,
    std::function<void(absl::Duration grace)> request_shutdown)
    : sessions_(sessions),
      store_(store),
      identity_(std::move(identity)),
      request_shutdown_(std::move(request_shutdown)) {}

void ControlService::SetControlAddress(std::string address) {
  absl::MutexLock lock(&mu_);
  control_address_ = std::move(address);
}

namespace {

// The session part of StartRecording/Replay/UseCassette.
template <class Request>
absl::StatusOr<replay::SessionTarget> TargetOf(const Request& request) {
  replay::SessionTarget target;
  target.session = request.session();
  target.new_session = request.new_session();
  target.owner = request.owner();
  if (request.has_lease()) {
    if (request.lease().seconds() < 0 || request.lease().nanos() < 0) {
      return absl::InvalidArgumentError("lease cannot be negative");
    }
    target.lease =
        absl::Nanoseconds(TimeUtil::DurationToNanoseconds(request.lease()));
  }
  return target;
}

template <class Request, class Response>
grpc::Status UseFor(replay::SessionManager& sessions, const Request& request,
                    v1::Mode mode, Response& response) {
  absl::StatusOr<replay::SessionTarget> target = TargetOf(request);
  if (!target.ok()) return ToGrpcStatus(target.status());
  auto info = sessions.Use(request.name(), mode, request.options(), *target);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response.mutable_session() = *std::move(info);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ControlService::StartRecording(
    grpc::ServerContext*, const v1::StartRecordingRequest* request,
    v1::StartRecordingResponse* response) {
  return UseFor(sessions_, *request, v1::RECORD, *response);
}

grpc::Status ControlService::StopRecording(
    grpc::ServerContext*, const v1::StopRecordingRequest* request,
    v1::StopRecordingResponse* response) {
  auto summary = sessions_.Stop(request->session());
  if (!summary.ok()) return ToGrpcStatus(summary.status());
  *response->mutable_summary() = *std::move(summary);
  return grpc::Status::OK;
}

grpc::Status ControlService::SetFaults(grpc::ServerContext*,
                                       const v1::SetFaultsRequest* request,
                                       v1::SetFaultsResponse* response) {
  auto set = sessions_.SetFaults(
      request->session(), {request->faults().begin(), request->faults().end()},
      request->seed());
  if (!set.ok()) return ToGrpcStatus(set.status());
  *response = *std::move(set);
  return grpc::Status::OK;
}

grpc::Status ControlService::ClearFaults(grpc::ServerContext*,
                                         const v1::ClearFaultsRequest* request,
                                         v1::ClearFaultsResponse* response) {
  auto left = sessions_.ClearFaults(
      request->session(), {request->ids().begin(), request->ids().end()});
  if (!left.ok()) return ToGrpcStatus(left.status());
  for (v1::Fault& f : *left) *response->add_faults() = std::move(f);
  return grpc::Status::OK;
}

grpc::Status ControlService::RenewSession(
    grpc::ServerContext*, const v1::RenewSessionRequest* request,
    v1::RenewSessionResponse* response) {
  absl::StatusOr<absl::Time> expires = sessions_.Renew(request->session());
  if (!expires.ok()) return ToGrpcStatus(expires.status());
  *response->mutable_lease_expires_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(*expires));
  return grpc::Status::OK;
}

grpc::Status ControlService::Replay(grpc::ServerContext*,
                                    const v1::ReplayRequest* request,
                                    v1::ReplayResponse* response) {
  return UseFor(sessions_, *request, v1::REPLAY, *response);
}

grpc::Status ControlService::UseCassette(grpc::ServerContext*,
                                         const v1::UseCassetteRequest* request,
                                         v1::UseCassetteResponse* response) {
  return UseFor(sessions_, *request, request->mode(), *response);
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
  if (auto info = sessions_.Info())
    *response->mutable_session() = *std::move(info);
  for (v1::SessionInfo& info : sessions_.List())
    *response->add_sessions() = std::move(info);
  for (v1::SessionSummary& ended : sessions_.Ended())
    *response->add_ended_sessions() = std::move(ended);
  response->set_max_sessions(static_cast<uint32_t>(sessions_.max_sessions()));
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
    grace = std::min(
        kMaxGrace,
        absl::Nanoseconds(TimeUtil::DurationToNanoseconds(request->grace())));
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

grpc::Status ControlService::ListCassettes(
    grpc::ServerContext*, const v1::ListCassettesRequest* request,
    v1::ListCassettesResponse* response) {
  auto list = store_.List(request->prefix());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (v1::CassetteInfo& info : *list)
    *response->add_cassettes() = std::move(info);
  return grpc::Status::OK;
}

grpc::Status ControlService::GetCassette(
    grpc::ServerContext* context, const v1::GetCassetteRequest* request,
    grpc::ServerWriter<v1::CassetteChunk>* writer) {
  auto cassette = store_.Load(request->name());
  if (!cassette.ok()) return ToGrpcStatus(cassette.status());
  // As loaded (written_by and timestamps kept); Load has checked that it
  // is complete, and `complete` serializes last.
  const std::string bytes = cassette->SerializeAsString();
  for (size_t offset = 0; offset < bytes.size(); offset += kChunkBytes) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "GetCassette cancelled");
    }
    v1::CassetteChunk chunk;
    if (offset == 0) chunk.set_name(request->name());
    chunk.set_data(bytes.substr(offset, kChunkBytes));
    if (!writer->Write(chunk)) {
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "the client went away during GetCassette");
    }
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::PutCassette(
    grpc::ServerContext*, grpc::ServerReader<v1::CassetteChunk>* reader,
    v1::PutCassetteResponse* response) {
  return ToGrpcStatus(Put(*reader, *response->mutable_cassette()));
}

absl::Status ControlService::Put(
    grpc::ServerReaderInterface<v1::CassetteChunk>& reader,
    v1::CassetteInfo& saved_info) {
  std::string name, bytes;
  bool first = true;
  v1::CassetteChunk chunk;
  while (reader.Read(&chunk)) {
    if (first) {
      name = chunk.name();
      RETURN_IF_ERROR(cassette::ValidateCassetteName(name));
      first = false;
    } else if (!chunk.name().empty() && chunk.name() != name) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PutCassette: a later chunk names cassette '", chunk.name(),
          "' but the first named '", name, "'; one call stores one cassette"));
    }
    if (bytes.size() + chunk.data().size() > kMaxCassetteBytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "PutCassette: cassette '", name, "' is larger than the limit of ",
          kMaxCassetteBytes, " bytes"));
    }
    bytes.append(chunk.data());
  }
  if (first) {
    return absl::InvalidArgumentError(
        "PutCassette: no chunk was sent; the first chunk names the cassette");
  }
  auto cassette = cassette::ParseCassette(
      bytes, absl::StrCat("(PutCassette '", name, "')"));
  if (!cassette.ok()) {
    if (cassette.status().code() == absl::StatusCode::kDataLoss) {
      return absl::InvalidArgumentError(
          absl::StrCat("the bytes sent are not a valid matgto cassette: ",
                       cassette.status().message()));
    }
    return cassette.status();
  }
  RETURN_IF_ERROR(sessions_.CheckNotInUse(name, "replace"));
  cassette::NormalizeTextBodies(*cassette);
  cassette->set_name(name);
  // A put replaces what is there now: looking first makes an object store's
  // save conditional on that version, so a recording saved meanwhile by
  // another server is not overwritten silently.
  RETURN_IF_ERROR(store_.Exists(name).status());
  RETURN_IF_ERROR(store_.Save(*cassette).status());
  saved_info.set_name(name);
  saved_info.set_interactions(
      static_cast<uint64_t>(cassette->interactions_size()));
  if (auto list = store_.List(name); list.ok()) {
    for (const v1::CassetteInfo& info : *list) {
      if (info.name() == name) saved_info = info;
    }
  }
  return absl::OkStatus();
}

grpc::Status ControlService::DeleteCassette(
    grpc::ServerContext*, const v1::DeleteCassetteRequest* request,
    v1::DeleteCassetteResponse*) {
  absl::Status st = cassette::ValidateCassetteName(request->name());
  if (st.ok()) st = sessions_.CheckNotInUse(request->name(), "delete");
  if (st.ok()) st = store_.Delete(request->name());
  return ToGrpcStatus(st);
}

}  // namespace matgto::control
