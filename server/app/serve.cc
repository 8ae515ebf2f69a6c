#include "server/app/serve.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/app/modes.h"
#include "server/cassette/redact.h"
#include "server/cassette/store.h"
#include "server/control/control_service.h"
#include "server/core/clock.h"
#include "server/core/url.h"
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
                    const std::string& control) {
  google::protobuf::Struct ready;
  (*ready.mutable_fields())["proxy"].set_string_value(proxy);
  (*ready.mutable_fields())["control"].set_string_value(control);
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

}  // namespace

int RunServe(const ServeOptions& options) {
  core::SystemClock clock;
  auto store = cassette::FileCassetteStore::Create(options.cassette_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "matgto: %s\n", std::string(store.status().message()).c_str());
    return 2;
  }
  replay::SessionManager sessions(**store, cassette::RedactConfig::Defaults(),
                                  clock, options.mode);
  if (!options.cassette.empty()) {
    auto info = sessions.Use(options.cassette, options.mode, {});
    if (!info.ok()) {
      std::fprintf(stderr, "matgto: cannot use cassette '%s': %s\n",
                   options.cassette.c_str(),
                   std::string(info.status().message()).c_str());
      return 2;
    }
  }

  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context ioc(threads);
  auto proxy = proxy::ProxyServer::Create(ioc, options.proxy, sessions);
  if (!proxy.ok()) {
    std::fprintf(stderr, "matgto: %s\n", std::string(proxy.status().message()).c_str());
    return 2;
  }

  ShutdownRequest shutdown;
  control::ControlService service(
      sessions,
      control::ServerIdentity{.proxy_address = (*proxy)->address(),
                              .cassette_dir = (*store)->dir(),
                              .started_at = absl::Now()},
      [&shutdown](absl::Duration grace) { shutdown.Request(grace); });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int control_port = 0;
  const std::string control_listen =
      core::HostPort(options.control_bind, options.control_port);
  builder.AddListeningPort(control_listen, grpc::InsecureServerCredentials(),
                           &control_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || control_port == 0) {
    std::fprintf(stderr, "matgto: cannot listen on %s for the control API\n",
                 control_listen.c_str());
    return 2;
  }
  const std::string control_address =
      core::HostPort(options.control_bind, static_cast<uint16_t>(control_port));
  service.SetControlAddress(control_address);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&shutdown, &options](const boost::system::error_code& ec, int) {
    if (!ec) shutdown.Request(options.shutdown_grace);
  });
  auto work = asio::make_work_guard(ioc);
  (*proxy)->Start();
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int i = 0; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });

  std::printf("matgto %s: proxy on %s, control (gRPC) on %s, cassettes in %s, "
              "default mode %s\n",
              MATGTO_VERSION, (*proxy)->address().c_str(),
              control_address.c_str(), (*store)->dir().c_str(),
              ModeName(sessions.default_mode()).c_str());
  std::fflush(stdout);
  if (!options.ready_file.empty() &&
      !WriteReadyFile(options.ready_file, (*proxy)->address(), control_address)) {
    std::fprintf(stderr, "matgto: cannot write ready file %s\n",
                 options.ready_file.c_str());
  }

  const absl::Duration grace = shutdown.Wait();
  std::printf("matgto: shutting down (grace %s)\n",
              absl::FormatDuration(grace).c_str());
  std::fflush(stdout);
  absl::Notification proxy_done;
  (*proxy)->Shutdown(grace, [&proxy_done] { proxy_done.Notify(); });
  proxy_done.WaitForNotificationWithTimeout(grace + absl::Seconds(1));
  grpc_server->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(1));

  int exit_code = 0;
  if (sessions.Info().has_value()) {
    auto summary = sessions.Stop();
    if (!summary.ok()) {
      std::fprintf(stderr, "matgto: could not save the active cassette: %s\n",
                   std::string(summary.status().message()).c_str());
      exit_code = 1;
    } else if (!summary->saved_path().empty()) {
      std::printf("matgto: saved %llu interactions to %s\n",
                  static_cast<unsigned long long>(summary->session().recorded()),
                  summary->saved_path().c_str());
    }
  }
  signals.cancel();
  work.reset();
  ioc.stop();
  for (std::thread& t : pool) t.join();
  std::printf("matgto: stopped\n");
  std::fflush(stdout);
  return exit_code;
}

}  // namespace matgto::app
