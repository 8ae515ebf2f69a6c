// Client and Session: every gRPC call of the C++ client lives in this one
// translation unit (grpcpp is the costly header to compile).
#include "matgto/client.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "connect_util.h"
#include "event_reader_state.h"
#include "grpcpp/grpcpp.h"
#include "matgto/v1/control.grpc.pb.h"

namespace matgto {
namespace {

using internal::DefaultOwner;
using internal::Getenv;
using internal::IsLoopbackTarget;
using internal::ReadFile;
using internal::Truncate;

std::chrono::system_clock::time_point ToTimePoint(
    const google::protobuf::Timestamp& ts) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(ts.seconds()) +
          std::chrono::nanoseconds(ts.nanos())));
}

void SetDuration(std::chrono::milliseconds d, google::protobuf::Duration* out) {
  out->set_seconds(d.count() / 1000);
  out->set_nanos(static_cast<int32_t>((d.count() % 1000) * 1000000));
}

}  // namespace

struct Client::Impl {
  std::string address;
  bool tls = false;
  std::string token;
  std::chrono::milliseconds call_timeout{30000};
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ProxyControl::Stub> stub;

  std::mutex mu;
  bool checked = false;  // the server's API version is known to fit

  // A context with the call deadline and the token.
  void Prepare(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + call_timeout);
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  }

  static void Check(const std::string& op, const grpc::Status& st) {
    if (st.ok()) return;
    ThrowError(op, static_cast<absl::StatusCode>(st.error_code()),
               st.error_message());
  }

  // On the first call: the server must speak control API generation 1.
  void EnsureCompatible() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (checked) return;
    }
    v1::GetStatusResponse resp = RawStatus();
    if (resp.api_version() != kApiVersion) {
      throw IncompatibleServer(
          "Connect", absl::StatusCode::kFailedPrecondition,
          absl::StrCat("the server at ", address, " (version ", resp.version(),
                       ") speaks control API generation ", resp.api_version(),
                       ", this client speaks ", kApiVersion,
                       ": use a client and a server of the same generation"));
    }
    std::lock_guard<std::mutex> lock(mu);
    checked = true;
  }

  v1::GetStatusResponse RawStatus() {
    grpc::ClientContext ctx;
    Prepare(ctx);
    v1::GetStatusResponse resp;
    Check("GetStatus", stub->GetStatus(&ctx, v1::GetStatusRequest(), &resp));
    return resp;
  }

  // Calls a unary RPC after the version check.
  template <typename Req, typename Resp>
  Resp Call(const std::string& op,
            grpc::Status (v1::ProxyControl::Stub::*method)(grpc::ClientContext*,
                                                           const Req&, Resp*),
            const Req& req) {
    EnsureCompatible();
    grpc::ClientContext ctx;
    Prepare(ctx);
    Resp resp;
    Check(op, (stub.get()->*method)(&ctx, req, &resp));
    return resp;
  }
};

// ---------------------------------------------------------------- Session

struct Session::State {
  std::shared_ptr<Client::Impl> impl;
  v1::SessionInfo info;
  std::string id;
  std::string proxy_url;
  bool owns_session = true;  // a new session: Stop closes it
  std::chrono::milliseconds lease{0};

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool lost = false;
  std::string lost_message;
  std::thread renewer;

  bool stopped = false;
  v1::SessionSummary summary;

  void RenewLoop() {
    const auto every = lease / 3;
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      if (cv.wait_for(lock, every, [&] { return stopping; })) return;
      lock.unlock();
      try {
        v1::RenewSessionRequest req;
        req.set_session(id);
        impl->Call("RenewSession", &v1::ProxyControl::Stub::RenewSession, req);
        lock.lock();
      } catch (const SessionNotFound& e) {
        lock.lock();
        lost = true;
        lost_message = e.message();
        return;
      } catch (const Error&) {
        // The server briefly unreachable: the lease has two more ticks.
        lock.lock();
      }
    }
  }

  void EndRenewals() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    cv.notify_all();
    if (renewer.joinable()) renewer.join();
  }
};

Session::Session(std::unique_ptr<State> state) : state_(std::move(state)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    Session old(std::move(*this));  // stopped by its destructor
    state_ = std::move(other.state_);
  }
  return *this;
}

Session::~Session() {
  if (state_ == nullptr) return;
  if (!state_->stopped) {
    try {
      Stop();
    } catch (...) {
      // A destructor must not throw; Stop() reports errors to who calls it.
    }
  }
  state_->EndRenewals();
}

const std::string& Session::id() const { return state_->id; }
const std::string& Session::cassette() const { return state_->info.cassette(); }
v1::Mode Session::mode() const { return state_->info.mode(); }
const std::string& Session::proxy_url() const { return state_->proxy_url; }
const std::string& Session::shared_proxy_url() const {
  return state_->info.proxy_url();
}
const v1::SessionInfo& Session::info() const { return state_->info; }
bool Session::stopped() const { return state_->stopped; }

bool Session::lost() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->lost;
}

EventReader Session::WatchEvents() const {
  return Client(state_->impl).WatchEvents({.session = state_->id});
}

EventReader Client::WatchEvents(WatchFilter filter) {
  impl_->EnsureCompatible();
  auto state = std::make_unique<EventReader::State>();
  // No deadline: it follows until cancelled.
  if (!impl_->token.empty()) {
    state->ctx.AddMetadata("authorization", "Bearer " + impl_->token);
  }
  v1::WatchEventsRequest req;
  req.set_session(filter.session);
  req.set_cassette(filter.cassette);
  state->reader = impl_->stub->WatchEvents(&state->ctx, req);
  // The server sends its headers once subscribed (a refusal ends the call:
  // Next then throws).
  state->reader->WaitForInitialMetadata();
  return EventReader(std::move(state));
}

v1::SessionInfo Session::Status() const {
  v1::GetStatusResponse st = state_->impl->Call(
      "GetStatus", &v1::ProxyControl::Stub::GetStatus, v1::GetStatusRequest());
  for (const v1::SessionInfo& s : st.sessions()) {
    if (s.id() == state_->id) return s;
  }
  if (state_->id == "default" && st.has_session()) return st.session();
  throw SessionNotFound(
      "Status", absl::StatusCode::kNotFound,
      absl::StrCat("session ", state_->id, " is not open on the server"));
}

std::string Session::CACertificate() const {
  return state_->impl
      ->Call("GetCACertificate", &v1::ProxyControl::Stub::GetCACertificate,
             v1::GetCACertificateRequest())
      .pem();
}

v1::Fault Session::AddFault(const Fault& fault) {
  std::vector<v1::Fault> all = AddFaults({fault});
  return all.back();
}

std::vector<v1::Fault> Session::AddFaults(const std::vector<Fault>& faults,
                                          uint64_t seed) {
  Client c(state_->impl);
  v1::SetFaultsResponse resp = c.SetFaults(state_->id, faults, seed);
  return {resp.faults().begin(), resp.faults().end()};
}

std::vector<v1::Fault> Session::ClearFaults(
    const std::vector<std::string>& ids) {
  return Client(state_->impl).ClearFaults(state_->id, ids);
}

std::chrono::system_clock::time_point Session::Renew() {
  return Client(state_->impl).RenewSession(state_->id);
}

v1::SessionSummary Session::Stop() {
  State& s = *state_;
  if (s.stopped) return s.summary;
  s.EndRenewals();
  s.stopped = true;
  bool lost;
  std::string why;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    lost = s.lost;
    why = s.lost_message;
  }
  if (!lost) {
    try {
      v1::StopRecordingRequest req;
      if (s.id != "default") req.set_session(s.id);
      s.summary = s.impl
                      ->Call("StopRecording",
                             &v1::ProxyControl::Stub::StopRecording, req)
                      .summary();
      return s.summary;
    } catch (const SessionNotFound& e) {
      if (!s.owns_session) throw;
      why = e.message();
    }
  }
  // Gone on the server: tell how it ended when the server still knows.
  std::string end_reason = "unknown";
  try {
    v1::GetStatusResponse st = s.impl->RawStatus();
    for (const v1::SessionSummary& ended : st.ended_sessions()) {
      if (ended.session().id() == s.id) {
        s.summary = ended;
        end_reason = ended.end_reason();
        break;
      }
    }
  } catch (const Error&) {
  }
  throw SessionLost(
      "Stop", absl::StatusCode::kNotFound,
      absl::StrCat("session ", s.id, " (cassette \"", s.info.cassette(),
                   "\") ended on the server before it was "
                   "stopped (end reason \"",
                   end_reason, "\"): ", why));
}

// ---------------------------------------------------------------- Client

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client Client::Connect(std::string address, ConnectionOptions o) {
  if (address.empty()) address = Getenv("MATGTO_SERVER");
  if (address.empty()) address = std::string(kDefaultAddress);
  bool https = false;
  std::string lower = absl::AsciiStrToLower(address);
  if (absl::StartsWith(lower, "https://")) {
    https = true;
    address = address.substr(8);
  } else if (absl::StartsWith(lower, "http://")) {
    address = address.substr(7);
  }
  while (absl::EndsWith(address, "/")) address.pop_back();
  auto refuse = [&](std::string why) {
    return InvalidArgument("Connect", absl::StatusCode::kInvalidArgument,
                           absl::StrCat(address, ": ", why));
  };
  if (https && o.plaintext) {
    throw refuse("plaintext contradicts the https:// address");
  }

  auto impl = std::make_shared<Impl>();
  impl->address = address;
  impl->call_timeout = o.call_timeout;
  impl->token = o.token.has_value() ? *o.token : Getenv("MATGTO_TOKEN");
  if (impl->token.find_first_of("\r\n") != std::string::npos) {
    throw refuse("the token contains a line break");
  }

  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (o.plaintext) {
    if (!o.tls_ca.empty() || !o.tls_cert.empty() || !o.tls_key.empty()) {
      throw refuse("plaintext cannot be combined with TLS files");
    }
    creds = grpc::InsecureChannelCredentials();
  } else {
    std::string ca = o.tls_ca, cert = o.tls_cert, key = o.tls_key;
    if (ca.empty()) ca = Getenv("MATGTO_TLS_CA");
    if (cert.empty() && key.empty()) {
      cert = Getenv("MATGTO_TLS_CERT");
      key = Getenv("MATGTO_TLS_KEY");
    }
    if (cert.empty() != key.empty()) {
      throw refuse(
          "a client certificate needs its key: give both files "
          "(tls_cert and tls_key, or $MATGTO_TLS_CERT and $MATGTO_TLS_KEY), "
          "or neither");
    }
    if (ca.empty() && cert.empty() && !https) {
      if (!impl->token.empty() && !IsLoopbackTarget(address)) {
        throw refuse(
            "refusing to send the token in plaintext to another machine: "
            "connect with TLS (tls_ca or $MATGTO_TLS_CA, or an https:// "
            "address), or choose plaintext explicitly "
            "(ConnectionOptions::plaintext, e.g. behind an encrypting "
            "service mesh)");
      }
      creds = grpc::InsecureChannelCredentials();
    } else {
      grpc::SslCredentialsOptions ssl;
      if (!ca.empty()) ssl.pem_root_certs = ReadFile(ca, "TLS CA file");
      if (!cert.empty()) {
        ssl.pem_cert_chain = ReadFile(cert, "TLS client certificate");
        ssl.pem_private_key = ReadFile(key, "TLS client key");
      }
      creds = grpc::SslCredentials(ssl);
      impl->tls = true;
    }
  }
  grpc::ChannelArguments args;
  // The control address is never reached through HTTP(S)_PROXY (gRPC
  // honours those variables by default; a test that points them at matgto
  // must not send the control channel there).
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  impl->channel = grpc::CreateCustomChannel(address, creds, args);
  impl->stub = v1::ProxyControl::NewStub(impl->channel);
  return Client(std::move(impl));
}

const std::string& Client::address() const { return impl_->address; }
bool Client::tls() const { return impl_->tls; }

Session Client::Record(const std::string& name, SessionOptions options) {
  return Open("Record", name, v1::RECORD, std::move(options));
}
Session Client::Replay(const std::string& name, SessionOptions options) {
  return Open("Replay", name, v1::REPLAY, std::move(options));
}
Session Client::Use(const std::string& name, SessionOptions options) {
  v1::Mode mode = options.mode;
  return Open("Use", name, mode, std::move(options));
}

v1::UseCassetteRequest OpenSessionRequest(const std::string& name,
                                          v1::Mode mode,
                                          const SessionOptions& o) {
  v1::UseCassetteRequest req;
  req.set_name(name);
  req.set_mode(mode);
  if (!o.cassette.empty()) *req.mutable_options() = o.cassette.proto();
  if (o.session.empty()) {
    req.set_new_session(true);
    if (o.lease.count() > 0) SetDuration(o.lease, req.mutable_lease());
    req.set_owner(Truncate(o.owner.empty() ? DefaultOwner() : o.owner, 256));
  } else if (o.session != "default") {
    req.set_session(o.session);
  }
  return req;
}

Session Client::Open(const std::string& op, const std::string& name,
                     v1::Mode mode, SessionOptions o) {
  const bool new_session = o.session.empty();
  v1::UseCassetteRequest req = OpenSessionRequest(name, mode, o);
  v1::SessionInfo info =
      impl_->Call(op, &v1::ProxyControl::Stub::UseCassette, req).session();

  auto state = std::make_unique<Session::State>();
  state->impl = impl_;
  state->info = info;
  state->id = info.id().empty() ? o.session : info.id();
  state->owns_session = new_session;
  state->proxy_url = ProxyUrlFor(info.proxy_address(), impl_->address);
  Session s(std::move(state));
  if (new_session && (s.id().empty() || s.id() == "default")) {
    s.state_->owns_session = false;
    throw FailedPrecondition(
        op, absl::StatusCode::kFailedPrecondition,
        absl::StrCat("the server at ", impl_->address,
                     " opened no session of its own: it predates sessions"));
  }
  if (!o.faults.empty() || o.fault_seed != 0) {
    s.AddFaults(o.faults, o.fault_seed);  // on failure s stops the session
  }
  if (new_session && o.lease.count() > 0) {
    s.state_->lease =
        info.has_lease()
            ? std::chrono::milliseconds(info.lease().seconds() * 1000 +
                                        info.lease().nanos() / 1000000)
            : o.lease;
    Session::State* st = s.state_.get();
    st->renewer = std::thread([st] { st->RenewLoop(); });
  }
  return s;
}

v1::GetStatusResponse Client::Status() {
  return impl_->Call("GetStatus", &v1::ProxyControl::Stub::GetStatus,
                     v1::GetStatusRequest());
}

v1::SessionSummary Client::StopRecording(const std::string& session_id) {
  v1::StopRecordingRequest req;
  if (session_id != "default") req.set_session(session_id);
  return impl_
      ->Call("StopRecording", &v1::ProxyControl::Stub::StopRecording, req)
      .summary();
}

std::chrono::system_clock::time_point Client::RenewSession(
    const std::string& session_id) {
  v1::RenewSessionRequest req;
  req.set_session(session_id);
  return ToTimePoint(
      impl_->Call("RenewSession", &v1::ProxyControl::Stub::RenewSession, req)
          .lease_expires_at());
}

v1::SetFaultsResponse Client::SetFaults(const std::string& session_id,
                                        const std::vector<Fault>& faults,
                                        uint64_t seed) {
  v1::SetFaultsRequest req;
  if (session_id != "default") req.set_session(session_id);
  req.set_seed(seed);
  for (const Fault& f : faults) *req.add_faults() = f.proto();
  return impl_->Call("SetFaults", &v1::ProxyControl::Stub::SetFaults, req);
}

std::vector<v1::Fault> Client::ClearFaults(
    const std::string& session_id, const std::vector<std::string>& ids) {
  v1::ClearFaultsRequest req;
  if (session_id != "default") req.set_session(session_id);
  for (const std::string& id : ids) req.add_ids(id);
  v1::ClearFaultsResponse resp =
      impl_->Call("ClearFaults", &v1::ProxyControl::Stub::ClearFaults, req);
  return {resp.faults().begin(), resp.faults().end()};
}

std::vector<v1::CassetteInfo> Client::ListCassettes(const std::string& prefix) {
  v1::ListCassettesRequest req;
  req.set_prefix(prefix);
  v1::ListCassettesResponse resp =
      impl_->Call("ListCassettes", &v1::ProxyControl::Stub::ListCassettes, req);
  return {resp.cassettes().begin(), resp.cassettes().end()};
}

v1::Cassette Client::GetCassette(const std::string& name) {
  impl_->EnsureCompatible();
  grpc::ClientContext ctx;
  impl_->Prepare(ctx);
  v1::GetCassetteRequest req;
  req.set_name(name);
  auto reader = impl_->stub->GetCassette(&ctx, req);
  std::string data;
  v1::CassetteChunk chunk;
  while (reader->Read(&chunk)) data += chunk.data();
  Impl::Check("GetCassette", reader->Finish());
  v1::Cassette cassette;
  if (!cassette.ParseFromString(data)) {
    throw CorruptCassette("GetCassette", absl::StatusCode::kDataLoss,
                          absl::StrCat("cassette '", name,
                                       "': the server sent bytes that are not "
                                       "a matgto.v1.Cassette"));
  }
  return cassette;
}

v1::CassetteInfo Client::PutCassette(const std::string& name,
                                     v1::Cassette cassette) {
  if (cassette.schema_version() == 0) cassette.set_schema_version(1);
  cassette.set_complete(true);
  const std::string data = cassette.SerializeAsString();
  impl_->EnsureCompatible();
  grpc::ClientContext ctx;
  impl_->Prepare(ctx);
  v1::PutCassetteResponse resp;
  auto writer = impl_->stub->PutCassette(&ctx, &resp);
  constexpr size_t kChunk = 1 << 20;
  size_t off = 0;
  do {
    v1::CassetteChunk chunk;
    if (off == 0) chunk.set_name(name);
    chunk.set_data(data.substr(off, kChunk));
    off += kChunk;
    if (!writer->Write(chunk))
      break;  // the server ended the call: Finish says why
  } while (off < data.size());
  writer->WritesDone();
  Impl::Check("PutCassette", writer->Finish());
  return resp.cassette();
}

void Client::DeleteCassette(const std::string& name) {
  v1::DeleteCassetteRequest req;
  req.set_name(name);
  impl_->Call("DeleteCassette", &v1::ProxyControl::Stub::DeleteCassette, req);
}

std::string Client::CACertificate() {
  return impl_
      ->Call("GetCACertificate", &v1::ProxyControl::Stub::GetCACertificate,
             v1::GetCACertificateRequest())
      .pem();
}

void Client::Shutdown(std::chrono::milliseconds grace) {
  v1::ShutdownRequest req;
  SetDuration(grace, req.mutable_grace());
  impl_->Call("Shutdown", &v1::ProxyControl::Stub::Shutdown, req);
}

}  // namespace matgto
