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
    std::function<void(absl::Duration grace)> request_shutdown,
    std::optional<TokenTable> tokens)
    : sessions_(sessions),
      store_(store),
      identity_(std::move(identity)),
      request_shutdown_(std::move(request_shutdown)),
      tokens_(std::move(tokens)) {}

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

// Whether the session writes its cassette (stopping it saves a recording).
bool Records(const v1::SessionInfo& session) {
  return session.mode() == v1::RECORD ||
         (session.mode() == v1::REPLAY &&
          session.options().on_miss() == v1::MISS_RECORD);
}

bool Visible(const Grant& grant, const v1::SessionInfo& session) {
  return grant.Covers(session.cassette());
}

}  // namespace

absl::StatusOr<Grant> ControlService::Authorize(
    const grpc::ServerContext& context, absl::string_view method) const {
  const std::optional<Scope> needed = RequiredScope(method);
  if (!needed.has_value()) {
    // Unreachable while the unit test that checks RpcRules() against the
    // service's descriptor passes.
    return absl::PermissionDeniedError(
        absl::StrCat(method, " has no access rule; refused"));
  }
  if (!tokens_.has_value()) return Unrestricted();
  std::optional<absl::string_view> authorization;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  ASSIGN_OR_RETURN(Grant grant, tokens_->Authenticate(authorization, method));
  RETURN_IF_ERROR(CheckScope(grant, *needed, method));
  return grant;
}

absl::StatusOr<std::optional<v1::SessionInfo>> ControlService::VisibleSession(
    const Grant& grant, absl::string_view id, absl::string_view rpc) const {
  const absl::string_view wanted = id.empty() ? replay::kDefaultSessionId : id;
  for (v1::SessionInfo& info : sessions_.List()) {
    if (info.id() != wanted || !grant.Covers(info.cassette())) continue;
    return std::optional<v1::SessionInfo>(std::move(info));
  }
  if (!grant.prefix.empty()) {
    // Another team's, unknown, or without a cassette: not this token's
    // either way (and which of them is not told).
    return absl::PermissionDeniedError(absl::StrCat(
        rpc,
        ": this token may only act on sessions using cassettes whose "
        "names start with '",
        grant.prefix, "'; session '", wanted, "' is not one"));
  }
  return std::optional<v1::SessionInfo>();
}

template <class Request, class Response>
grpc::Status ControlService::UseFor(grpc::ServerContext& context,
                                    absl::string_view rpc,
                                    const Request& request, v1::Mode mode,
                                    Response& response) {
  absl::StatusOr<Grant> grant = Authorize(context, rpc);
  if (!grant.ok()) return ToGrpcStatus(grant.status());
  absl::Status allowed = CheckCassette(*grant, request.name(), rpc);
  if (allowed.ok() && !request.new_session()) {
    // The session's cassette in use is replaced (and saved when recorded).
    auto current = VisibleSession(*grant, request.session(), rpc);
    if (!current.ok()) {
      allowed = current.status();
    } else if (current->has_value() && Records(**current)) {
      allowed = CheckScope(*grant, Scope::kWrite, rpc,
                           absl::StrCat("it ends the recording of cassette '",
                                        (*current)->cassette(), "'"));
    }
  }
  if (!allowed.ok()) return ToGrpcStatus(allowed);
  absl::StatusOr<replay::SessionTarget> target = TargetOf(request);
  if (!target.ok()) return ToGrpcStatus(target.status());
  // Whether the use records is the session manager's decision (it depends
  // on the cassette's own options and on whether it exists).
  if (absl::Status may_write =
          CheckScope(*grant, RequiredForUse(/*writes=*/true), rpc);
      !may_write.ok()) {
    target->refuse_writes = std::string(may_write.message());
  }
  auto info = sessions_.Use(request.name(), mode, request.options(), *target);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response.mutable_session() = *std::move(info);
  return grpc::Status::OK;
}

absl::Status ControlService::AuthorizeSessionCall(grpc::ServerContext& context,
                                                  absl::string_view rpc,
                                                  absl::string_view session,
                                                  bool changes) const {
  ASSIGN_OR_RETURN(Grant grant, Authorize(context, rpc));
  ASSIGN_OR_RETURN(std::optional<v1::SessionInfo> info,
                   VisibleSession(grant, session, rpc));
  if (changes && info.has_value()) {
    RETURN_IF_ERROR(CheckScope(
        grant, RequiredForSession(Records(*info)), rpc,
        Records(*info)
            ? absl::StrCat("session '", info->id(), "' records cassette '",
                           info->cassette(), "'")
            : ""));
  }
  return absl::OkStatus();
}

grpc::Status ControlService::StartRecording(
    grpc::ServerContext* context, const v1::StartRecordingRequest* request,
    v1::StartRecordingResponse* response) {
  return UseFor(*context, "StartRecording", *request, v1::RECORD, *response);
}

grpc::Status ControlService::StopRecording(
    grpc::ServerContext* context, const v1::StopRecordingRequest* request,
    v1::StopRecordingResponse* response) {
  if (absl::Status allowed =
          AuthorizeSessionCall(*context, "StopRecording", request->session());
      !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
  auto summary = sessions_.Stop(request->session());
  if (!summary.ok()) return ToGrpcStatus(summary.status());
  *response->mutable_summary() = *std::move(summary);
  return grpc::Status::OK;
}

grpc::Status ControlService::SetFaults(grpc::ServerContext* context,
                                       const v1::SetFaultsRequest* request,
                                       v1::SetFaultsResponse* response) {
  // With no rule and no seed, SetFaults only reads the session's rules.
  const bool changes = request->faults_size() > 0 || request->seed() != 0;
  if (absl::Status allowed = AuthorizeSessionCall(*context, "SetFaults",
                                                  request->session(), changes);
      !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
  auto set = sessions_.SetFaults(
      request->session(), {request->faults().begin(), request->faults().end()},
      request->seed());
  if (!set.ok()) return ToGrpcStatus(set.status());
  *response = *std::move(set);
  return grpc::Status::OK;
}

grpc::Status ControlService::ClearFaults(grpc::ServerContext* context,
                                         const v1::ClearFaultsRequest* request,
                                         v1::ClearFaultsResponse* response) {
  if (absl::Status allowed =
          AuthorizeSessionCall(*context, "ClearFaults", request->session());
      !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
  auto left = sessions_.ClearFaults(
      request->session(), {request->ids().begin(), request->ids().end()});
  if (!left.ok()) return ToGrpcStatus(left.status());
  for (v1::Fault& f : *left) *response->add_faults() = std::move(f);
  return grpc::Status::OK;
}

grpc::Status ControlService::RenewSession(
    grpc::ServerContext* context, const v1::RenewSessionRequest* request,
    v1::RenewSessionResponse* response) {
  if (absl::Status allowed =
          AuthorizeSessionCall(*context, "RenewSession", request->session());
      !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
  absl::StatusOr<absl::Time> expires = sessions_.Renew(request->session());
  if (!expires.ok()) return ToGrpcStatus(expires.status());
  *response->mutable_lease_expires_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(*expires));
  return grpc::Status::OK;
}

grpc::Status ControlService::Replay(grpc::ServerContext* context,
                                    const v1::ReplayRequest* request,
                                    v1::ReplayResponse* response) {
  return UseFor(*context, "Replay", *request, v1::REPLAY, *response);
}

grpc::Status ControlService::UseCassette(grpc::ServerContext* context,
                                         const v1::UseCassetteRequest* request,
                                         v1::UseCassetteResponse* response) {
  return UseFor(*context, "UseCassette", *request, request->mode(), *response);
}

grpc::Status ControlService::GetStatus(grpc::ServerContext* context,
                                       const v1::GetStatusRequest*,
                                       v1::GetStatusResponse* response) {
  absl::StatusOr<Grant> grant = Authorize(*context, "GetStatus");
  if (!grant.ok()) return ToGrpcStatus(grant.status());
  response->set_version(MATGTO_VERSION);
  response->set_api_version(kApiVersion);
  response->set_proxy_address(identity_.proxy_address);
  {
    absl::MutexLock lock(&mu_);
    response->set_control_address(control_address_);
  }
  response->set_cassette_dir(identity_.cassette_dir);
  response->set_default_mode(sessions_.default_mode());
  // A prefix-limited token sees the sessions of its cassettes only.
  if (auto info = sessions_.Info(); info && Visible(*grant, *info))
    *response->mutable_session() = *std::move(info);
  for (v1::SessionInfo& info : sessions_.List()) {
    if (Visible(*grant, info)) *response->add_sessions() = std::move(info);
  }
  for (v1::SessionSummary& ended : sessions_.Ended()) {
    if (Visible(*grant, ended.session()))
      *response->add_ended_sessions() = std::move(ended);
  }
  response->set_max_sessions(static_cast<uint32_t>(sessions_.max_sessions()));
  *response->mutable_tls() = identity_.tls;
  response->set_reverse_upstream(identity_.reverse_upstream);
  *response->mutable_uptime() = TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(absl::Now() - identity_.started_at));
  return grpc::Status::OK;
}

grpc::Status ControlService::Shutdown(grpc::ServerContext* context,
                                      const v1::ShutdownRequest* request,
                                      v1::ShutdownResponse*) {
  if (auto grant = Authorize(*context, "Shutdown"); !grant.ok())
    return ToGrpcStatus(grant.status());
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
    grpc::ServerContext* context, const v1::GetCACertificateRequest*,
    v1::GetCACertificateResponse* response) {
  if (auto grant = Authorize(*context, "GetCACertificate"); !grant.ok())
    return ToGrpcStatus(grant.status());
  if (identity_.ca_pem.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "HTTPS interception is off on this server, so it has "
                        "no CA certificate");
  }
  response->set_pem(identity_.ca_pem);
  return grpc::Status::OK;
}

grpc::Status ControlService::ListCassettes(
    grpc::ServerContext* context, const v1::ListCassettesRequest* request,
    v1::ListCassettesResponse* response) {
  absl::StatusOr<Grant> grant = Authorize(*context, "ListCassettes");
  if (!grant.ok()) return ToGrpcStatus(grant.status());
  // A prefix-limited token lists its cassettes only.
  const std::optional<std::string> prefix =
      ListPrefix(*grant, request->prefix());
  if (!prefix.has_value()) return grpc::Status::OK;
  auto list = store_.List(*prefix);
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (v1::CassetteInfo& info : *list)
    *response->add_cassettes() = std::move(info);
  return grpc::Status::OK;
}

grpc::Status ControlService::GetCassette(
    grpc::ServerContext* context, const v1::GetCassetteRequest* request,
    grpc::ServerWriter<v1::CassetteChunk>* writer) {
  absl::StatusOr<Grant> grant = Authorize(*context, "GetCassette");
  if (!grant.ok()) return ToGrpcStatus(grant.status());
  if (absl::Status st = CheckCassette(*grant, request->name(), "GetCassette");
      !st.ok()) {
    return ToGrpcStatus(st);
  }
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
    grpc::ServerContext* context, grpc::ServerReader<v1::CassetteChunk>* reader,
    v1::PutCassetteResponse* response) {
  absl::StatusOr<Grant> grant = Authorize(*context, "PutCassette");
  if (!grant.ok()) return ToGrpcStatus(grant.status());
  return ToGrpcStatus(Put(*grant, *reader, *response->mutable_cassette()));
}

absl::Status ControlService::Put(
    const Grant& grant, grpc::ServerReaderInterface<v1::CassetteChunk>& reader,
    v1::CassetteInfo& saved_info) {
  std::string name, bytes;
  bool first = true;
  v1::CassetteChunk chunk;
  while (reader.Read(&chunk)) {
    if (first) {
      name = chunk.name();
      RETURN_IF_ERROR(cassette::ValidateCassetteName(name));
      RETURN_IF_ERROR(CheckCassette(grant, name, "PutCassette"));
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
    grpc::ServerContext* context, const v1::DeleteCassetteRequest* request,
    v1::DeleteCassetteResponse*) {
  absl::StatusOr<Grant> grant = Authorize(*context, "DeleteCassette");
  if (!grant.ok()) return ToGrpcStatus(grant.status());
  absl::Status st = CheckCassette(*grant, request->name(), "DeleteCassette");
  if (st.ok()) st = cassette::ValidateCassetteName(request->name());
  if (st.ok()) st = sessions_.CheckNotInUse(request->name(), "delete");
  if (st.ok()) st = store_.Delete(request->name());
  return ToGrpcStatus(st);
}

}  // namespace matgto::control
