// The admin HTTP port (`serve --admin-port`): /metrics (Prometheus text
// format), /healthz (alive), /readyz (ready to serve; 503 while not), and a
// small web page (/) with its JSON API (/api/...) and live events as
// server-sent events (/events).
//
// It runs on its own io_context and thread, so that a scrape or a probe is
// answered even when the proxy's threads are saturated, and a slow scraper
// never takes a proxy thread. Each connection is a coroutine with a read
// timeout and a request size limit; requests are GET/HEAD only.
//
// Access: /healthz and /readyz are open (probes); every other path asks
// `authorize` with the request's Authorization header (empty when absent),
// when one is set, and answers 401 when it says no. This is the hook for the
// control API's tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/observe/event_bus.h"

namespace matgto::admin {

struct AdminConfig {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port
};

struct AdminHandlers {
  // The /metrics body.
  std::function<std::string()> metrics;
  // OK when ready; otherwise why not (the 503 body).
  std::function<absl::Status()> ready;
  // Whether a request with this Authorization header value may see the
  // protected paths. Null: everyone may.
  std::function<bool(absl::string_view authorization)> authorize;
  // The page's JSON: open sessions ({"sessions":[SessionInfo...]}), the
  // cassettes ({"cassettes":[CassetteInfo...]}) and one cassette (the
  // protobuf JSON mapping). Null: 404.
  std::function<std::string()> sessions_json;
  std::function<absl::StatusOr<std::string>()> cassettes_json;
  std::function<absl::StatusOr<std::string>(absl::string_view name)>
      cassette_json;
  // Followed by /events (server-sent events, one v1::Event JSON per
  // message; ?session= and ?cassette= filter). Null: 404.
  observe::EventBus* events = nullptr;
};

// Thread-safety: address() and Stop() may be called from any thread.
class AdminServer {
 public:
  // Listens and starts serving on a thread of its own.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(
      const AdminConfig& config, AdminHandlers handlers);
  ~AdminServer();

  // "host:port" it listens on.
  const std::string& address() const { return address_; }
  // Stops accepting, closes connections and joins the thread. Idempotent.
  void Stop();

 public:
  // Internal: the io_context, acceptor and handlers.
  struct State;

 private:
  explicit AdminServer(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::string address_;
  std::thread thread_;
};

// The response to one admin request (exposed for tests).
struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};
AdminResponse HandleAdminRequest(const AdminHandlers& handlers,
                                 absl::string_view method,
                                 absl::string_view target,
                                 absl::string_view authorization);

}  // namespace matgto::admin
