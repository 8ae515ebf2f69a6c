#include "server/app/serve.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/admin/admin_server.h"
#include "server/app/admin_wiring.h"
#include "server/app/modes.h"
#include "server/app/proxy_tls.h"
#include "server/cassette/redact.h"
#include "server/cassette/store.h"
#include "server/control/auth.h"
#include "server/control/control_service.h"
#include "server/control/control_tls.h"
#include "server/core/clock.h"
#include "server/core/thread_name.h"
#include "server/core/url.h"
#include "server/observe/log.h"
#include "server/observe/observer.h"
#include "server/proxy/proxy_server.h"
#include "server/replay/session_manager.h"

namespace matgto::app {
namespace {

namespace asio = boost::asio;

// A one-shot "please stop" with the grace period asked for. Set from a gRPC
// thread or the signal handler, waited for by the main thread.
class ShutdownRequest {
 public:
  void Request(absl::Duration grace) {
    absl::MutexLock lock(&mu_);
    if (!requested_) {
      requested_ = true;
      grace_ = grace;
    }
  }
  absl::Duration Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&requested_));
    return grace_;
  }

 private:
  absl::Mutex mu_;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration grace_ ABSL_GUARDED_BY(mu_);
};

bool WriteReadyFile(const std::string& path, const std::string& proxy,
                    const std::string& control, const std::string& admin) {
  google::protobuf::Struct ready;
  (*ready.mutable_fields())["proxy"].set_string_value(proxy);
  (*ready.mutable_fields())["control"].set_string_value(control);
  if (!admin.empty()) {
    (*ready.mutable_fields())["admin"].set_string_value(admin);
  }
  (*ready.mutable_fields())["pid"].set_number_value(::getpid());
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(ready, &json).ok()) {
    return false;
  }
  const std::string tmp = absl::StrCat(path, ".tmp-", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json << "\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

bool IsLoopback(const std::string& bind) {
  if (bind == "localhost") return true;
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(bind, ec);
  return !ec && address.is_loopback();
}

// The control API's credentials and tokens, checked before anything
// listens. Prints what is wrong and returns false.
bool ControlSecurity(const ServeOptions& options,
                     std::shared_ptr<grpc::ServerCredentials>& credentials,
                     std::optional<control::TokenTable>& tokens) {
  credentials = grpc::InsecureServerCredentials();
  const bool tls =
      !options.control_tls_cert.empty() || !options.control_tls_key.empty();
  if (!tls && !options.control_client_ca.empty()) {
    std::fprintf(stderr,
                 "matgto: --control-client-ca needs --control-tls-cert and "
                 "--control-tls-key (mTLS is TLS with client certificates)\n");
    return false;
  }
  if (tls) {
    auto made = control::MakeControlCredentials(
        {.cert_file = options.control_tls_cert,
         .key_file = options.control_tls_key,
         .client_ca_file = options.control_client_ca});
    if (!made.ok()) {
      std::fprintf(stderr, "matgto: control API TLS: %s\n",
                   std::string(made.status().message()).c_str());
      return false;
    }
    credentials = *std::move(made);
  }
  if (!options.auth_tokens.empty()) {
    auto loaded = control::TokenTable::Load(options.auth_tokens);
    if (!loaded.ok()) {
      std::fprintf(stderr, "matgto: --auth-tokens: %s\n",
                   std::string(loaded.status().message()).c_str());
      return false;
    }
    tokens = *std::move(loaded);
    struct stat st {};
    if (::stat(options.auth_tokens.c_str(), &st) == 0 && (st.st_mode & 0077)) {
      std::fprintf(stderr,
                   "matgto: WARNING: token file %s is readable by other users "
                   "(mode %04o); chmod 600 it\n",
                   options.auth_tokens.c_str(),
                   static_cast<unsigned>(st.st_mode & 0777));
    }
  }
  if (!IsLoopback(options.control_bind) && (!tls || !tokens.has_value())) {
    std::fprintf(
        stderr,
        "matgto: WARNING: the control API listens on %s, beyond this "
        "machine, %s: anyone who reaches the port can %s. Use "
        "--control-tls-cert/--control-tls-key and --auth-tokens (see "
        "README, \"Exposing the control API\"), or keep --control-bind "
        "127.0.0.1.\n",
        options.control_bind.c_str(),
        !tls && !tokens.has_value() ? "without TLS and without tokens"
        : !tls ? "without TLS (tokens travel in clear text)"
               : "without tokens",
        tokens.has_value() ? "read the tokens sent"
                           : "record, replace or delete cassettes and shut "
                             "the server down");
  }
  return true;
}

using observe::LogLevel;

// Who may see the admin port's /metrics, page and API: an explicit hook,
// else the control API's tokens (any scope, but not a token limited to a
// name prefix: the page shows every session; deleting a cassette needs
// scope write, as DeleteCassette does), else anyone who reaches it
// (loopback by default). /healthz and /readyz stay open for probes.
std::function<admin::AdminAccess(absl::string_view)> AdminAuthorizer(
    const ServeOptions& options,
    const std::optional<control::TokenTable>& tokens) {
  if (options.admin_authorize) return options.admin_authorize;
  if (!tokens.has_value()) return nullptr;
  auto table = std::make_shared<const control::TokenTable>(*tokens);
  return [table](absl::string_view authorization) {
    absl::StatusOr<control::Grant> grant =
        table->Authenticate(authorization, "the admin port");
    if (!grant.ok() || !grant->prefix.empty()) return admin::AdminAccess::kNone;
    return grant->Allows(control::Scope::kWrite) ? admin::AdminAccess::kWrite
                                                 : admin::AdminAccess::kRead;
  };
}

// A line of the server's log ("start", "stop" and other lifecycle events).
void Note(LogLevel level, absl::string_view event, absl::string_view message) {
  observe::Log(level, event, message);
}

void Fail(absl::string_view message) {
  Note(LogLevel::kError, "start", message);
}

}  // namespace

std::string DefaultCaDir() {
  if (const char* dir = std::getenv("MATGTO_CA_DIR"); dir != nullptr && *dir) {
    return dir;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home) {
    return absl::StrCat(home, "/.matgto/ca");
  }
  return "./.matgto/ca";
}

int RunServe(const ServeOptions& options_in) {
  ServeOptions options = options_in;
  observe::InitLogging(options.log);
  // Debian's Abseil checks every lock for ordering cycles (a graph update
  // per acquisition, on every request); the unit and TSan tests keep that
  // check, the server does without it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  core::SystemClock clock;
  // A file-size limit (ulimit -f) makes a write fail with EFBIG, which is
  // reported like a full disk, instead of killing the server.
  std::signal(SIGXFSZ, SIG_IGN);
  // Recordings interrupted by a crash left journals: they are turned into
  // cassettes as the store opens.
  auto store = OpenStore(options.store, options.cassette_dir,
                         options.cassette_format, options.file_mode,
                         /*recover=*/true);
  if (!store.ok()) {
    Fail(store.status().message());
    return 2;
  }
  for (const std::string& line : store->recovered) {
    Note(LogLevel::kInfo, "recover", line);
  }

  // TLS: the CA, the leaf cache and both contexts.
  if (options.ca_cert.empty() != options.ca_key.empty()) {
    Fail("--ca-cert and --ca-key go together");
    return 2;
  }
  auto tls = ProxyTls::Create(
      {.ca_dir = options.ca_dir.empty() ? DefaultCaDir() : options.ca_dir,
       .ca_cert = options.ca_cert,
       .ca_key = options.ca_key,
       .leaf_cache_size = options.leaf_cache_size,
       .http2 = options.proxy.http2,
       .upstream = {.ca_file = options.upstream_ca_file,
                    .insecure = options.insecure_upstream}},
      [](const absl::Status& error) {
        Note(LogLevel::kError, "tls",
             absl::StrCat("cannot intercept TLS: ", error.message()));
      });
  if (!tls.ok()) {
    Fail(tls.status().message());
    return 2;
  }
  if ((*tls)->ca_created()) {
    Note(LogLevel::kInfo, "start",
         absl::StrCat("created a new CA at ", (*tls)->ca_cert_path(),
                      "; trust it in clients (see `matgto ca export`)"));
  }
  if (options.insecure_upstream) {
    Note(LogLevel::kWarn, "start",
         "WARNING: --insecure-upstream: upstream TLS certificates are NOT "
         "verified; anyone on the path can impersonate the services you "
         "record");
  }
  if (!options.reverse_upstream.empty()) {
    auto up = core::ParseAbsoluteUrl(options.reverse_upstream);
    if (!up.ok() || (up->scheme != "http" && up->scheme != "https")) {
      Fail(absl::StrCat("--upstream must be an http(s):// URL, got '",
                        options.reverse_upstream, "'"));
      return 2;
    }
    up->path = "/";
    up->has_query = false;
    up->query.clear();
    options.proxy.reverse_upstream = *up;
  }
  proxy::TlsServices tls_services{
      .interception = (*tls)->interception(),
      .upstream = (*tls)->upstream(),
      .verify_upstream = !options.insecure_upstream};
  v1::TlsStatus tls_status;
  tls_status.set_ca_certificate_path((*tls)->ca_cert_path());
  for (const std::string& p : options.proxy.no_intercept)
    tls_status.add_no_intercept(p);
  tls_status.set_insecure_upstream(options.insecure_upstream);
  tls_status.set_upstream_ca_file(options.upstream_ca_file);

  // By default one I/O thread per core, as nginx's "worker_processes
  // auto". Under the load the performance issue measures with (wrk -t2
  // -c64 on 2 cores) two threads beat one in every mode: replay 1.34x
  // nginx against 1.08x, passthrough 0.99 of the hop against 0.81. Under a
  // single-threaded client one thread replays faster (see the README's
  // Performance); --threads sets the count.
  const int threads =
      options.threads > 0
          ? options.threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  proxy::IoPool pool(threads);
  // Metrics, the log's exchange records and the live events.
  observe::Observer observer;
  options.proxy.metrics = &observer.proxy_metrics();
  ProxySessionListeners session_listeners(pool, options.proxy, tls_services,
                                          options.session_ports);
  replay::SessionManager sessions(
      *store->store, cassette::RedactConfig::Defaults(), clock,
      replay::SessionManagerOptions{.default_mode = options.mode,
                                    .max_sessions = options.max_sessions,
                                    .listeners = &session_listeners,
                                    .log = nullptr,
                                    .observer = &observer});
  auto proxy =
      proxy::ProxyServer::Create(pool, options.proxy, tls_services, sessions);
  if (!proxy.ok()) {
    Fail(proxy.status().message());
    return 2;
  }
  session_listeners.Bind(sessions, (*proxy)->address());
  if (!options.cassette.empty()) {
    auto info = sessions.Use(options.cassette, options.mode, {});
    if (!info.ok()) {
      Fail(absl::StrCat("cannot use cassette '", options.cassette,
                        "': ", info.status().message()));
      return 2;
    }
  }

  std::shared_ptr<grpc::ServerCredentials> control_credentials;
  std::optional<control::TokenTable> tokens;
  if (!ControlSecurity(options, control_credentials, tokens)) return 2;
  const std::string control_security = absl::StrCat(
      options.control_tls_cert.empty() ? "plaintext"
      : options.control_client_ca.empty()
          ? "TLS"
          : "mTLS (client certificates required)",
      ", ",
      tokens.has_value()
          ? absl::StrCat(tokens->size(), " tokens from ", options.auth_tokens)
          : "no tokens");

  ShutdownRequest shutdown;
  control::ControlService service(
      sessions, *store->store,
      control::ServerIdentity{
          .proxy_address = (*proxy)->address(),
          .cassette_dir = store->where,
          .started_at = absl::Now(),
          .ca_pem = (*tls)->CaPem(),
          .tls = tls_status,
          .reverse_upstream =
              options.proxy.reverse_upstream.has_value()
                  ? core::FormatUrl(*options.proxy.reverse_upstream)
                  : ""},
      [&shutdown](absl::Duration grace) { shutdown.Request(grace); }, tokens);
  service.SetEventBus(&observer.bus());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int control_port = 0;
  const std::string control_listen =
      core::HostPort(options.control_bind, options.control_port);
  builder.AddListeningPort(control_listen, control_credentials, &control_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || control_port == 0) {
    Fail(absl::StrCat("cannot listen on ", control_listen,
                      " for the control API"));
    return 2;
  }
  const std::string control_address =
      core::HostPort(options.control_bind, static_cast<uint16_t>(control_port));
  service.SetControlAddress(control_address);

  // The admin port: /metrics, /healthz, /readyz (not ready while draining),
  // the web page.
  std::atomic<bool> draining{false};
  std::unique_ptr<admin::AdminServer> admin_server;
  if (options.admin_port >= 0) {
    auto started = admin::AdminServer::Start(
        admin::AdminConfig{.bind_address = options.admin_bind,
                           .port = static_cast<uint16_t>(options.admin_port)},
        AdminHandlersFor(observer, sessions, *store->store, draining,
                         AdminAuthorizer(options, tokens)));
    if (!started.ok()) {
      Fail(started.status().message());
      grpc_server->Shutdown();
      return 2;
    }
    admin_server = *std::move(started);
  }

  asio::signal_set signals(pool.context(0), SIGINT, SIGTERM);
  signals.async_wait(
      [&shutdown, &options](const boost::system::error_code& ec, int) {
        if (!ec) shutdown.Request(options.shutdown_grace);
      });
  (*proxy)->Start();
  pool.Start();

  Note(LogLevel::kInfo, "start",
       absl::StrCat(
           "matgto ", MATGTO_VERSION, ": proxy on ", (*proxy)->address(),
           ", control (gRPC) on ", control_address,
           admin_server != nullptr
               ? absl::StrCat(", admin (HTTP) on ", admin_server->address())
               : "",
           ", cassettes in ", store->where, " (",
           cassette::CassetteFormatName(options.cassette_format),
           "), default mode ", ModeName(sessions.default_mode()), ", CA ",
           (*tls)->ca_cert_path()));
  Note(LogLevel::kInfo, "start",
       absl::StrCat("control API: ", control_security));
  if (!store->detail.empty()) Note(LogLevel::kInfo, "start", store->detail);
  if (options.proxy.reverse_upstream.has_value()) {
    Note(LogLevel::kInfo, "start",
         absl::StrCat(
             "reverse mode: ", options.proxy.reverse_tls ? "https" : "http",
             "://", (*proxy)->address(), " answers as ",
             core::FormatUrl(*options.proxy.reverse_upstream)));
  }
  if (!options.ready_file.empty() &&
      !WriteReadyFile(options.ready_file, (*proxy)->address(), control_address,
                      admin_server != nullptr ? admin_server->address() : "")) {
    Note(LogLevel::kError, "start",
         absl::StrCat("cannot write ready file ", options.ready_file));
  }

  // Sessions whose owner went away without stopping them end when their
  // lease runs out: this thread sleeps until the next expiry (or a second,
  // as leases are renewed and opened meanwhile), then ends what expired.
  absl::Notification stop_reaper;
  std::thread reaper([&sessions, &stop_reaper, &clock] {
    core::NameThisThread("matgto-leases");
    for (;;) {
      const absl::Time next =
          std::min(sessions.NextLeaseExpiry(), clock.Now() + absl::Seconds(1));
      if (stop_reaper.WaitForNotificationWithDeadline(next)) return;
      sessions.ExpireLeases();
    }
  });

  const absl::Duration grace = shutdown.Wait();
  // Not ready from now on: probes see 503, gRPC health NOT_SERVING.
  draining.store(true);
  if (grpc::HealthCheckServiceInterface* health =
          grpc_server->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  Note(LogLevel::kInfo, "stop",
       absl::StrCat("shutting down (grace ", absl::FormatDuration(grace), ")"));
  stop_reaper.Notify();
  reaper.join();
  absl::Notification proxy_done;
  (*proxy)->Shutdown(grace, [&proxy_done] { proxy_done.Notify(); });
  session_listeners.Drain(grace);
  proxy_done.WaitForNotificationWithTimeout(grace + absl::Seconds(1));
  // Watchers' streams end, so that gRPC need not cancel them.
  observer.bus().Close();
  grpc_server->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(1));

  int exit_code = 0;
  // Saves every recording (each session's end is logged).
  if (absl::Status saved = sessions.StopAll(); !saved.ok()) {
    Note(LogLevel::kError, "stop",
         absl::StrCat("could not save a recording: ", saved.message()));
    exit_code = 1;
  }
  signals.cancel();
  pool.Stop();
  if (admin_server != nullptr) admin_server->Stop();
  Note(LogLevel::kInfo, "stop", "stopped");
  observe::FlushLogging();
  return exit_code;
}

}  // namespace matgto::app
