// The admin HTTP port (`serve --admin-port`): /metrics (Prometheus text
// format), /healthz (alive), /readyz (ready to serve; 503 while not), and a
// small web page (/ and its assets) with its JSON API (/api/...) and live
// events as server-sent events (/events).
//
// It runs on its own io_context and thread, so that a scrape or a probe is
// answered even when the proxy's threads are saturated, and a slow scraper
// never takes a proxy thread. Each connection is a coroutine with a read
// timeout and a request size limit; requests are GET/HEAD, and DELETE of a
// cassette.
//
// Access: /healthz, /readyz and the page's static files are open (probes; a
// browser cannot send a token with a navigation, and the files hold no
// data); every other path asks `authorize` with the request's Authorization
// header (empty when absent), when one is set, and answers 401 when it says
// no. Deleting needs AdminAccess::kWrite (else 403) and, when the request
// carries an Origin header, an origin that names the Host it was sent to
// (else 403: no other site's script deletes through a user's browser).
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

// What a request may do on the admin port.
enum class AdminAccess : uint8_t { kNone, kRead, kWrite };

struct AdminHandlers {
  // The /metrics body.
  std::function<std::string()> metrics;
  // OK when ready; otherwise why not (the 503 body).
  std::function<absl::Status()> ready;
  // What a request with this Authorization header value may do on the
  // protected paths. Null: everything.
  std::function<AdminAccess(absl::string_view authorization)> authorize;
  // The page's JSON: open sessions ({"sessions":[SessionInfo...]}), the
  // cassettes ({"cassettes":[CassetteInfo...]}) and one cassette (the
  // protobuf JSON mapping). Null: 404.
  std::function<std::string()> sessions_json;
  std::function<absl::StatusOr<std::string>()> cassettes_json;
  std::function<absl::StatusOr<std::string>(absl::string_view name)>
      cassette_json;
  // A cassette as a file to download (`?download=json`: the JSON cassette
  // encoding, `?download=har`: HAR 1.2). Null: 404.
  std::function<absl::StatusOr<std::string>(absl::string_view name,
                                            absl::string_view format)>
      cassette_download;
  // DELETE /api/cassettes/NAME. Null: 405.
  std::function<absl::Status(absl::string_view name)> delete_cassette;
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

// One admin request, as far as the handlers need it.
struct AdminRequest {
  absl::string_view method{};
  absl::string_view target{};
  // Header values; empty when absent.
  absl::string_view authorization{};
  absl::string_view origin{};
  absl::string_view host{};
};

// The response to one admin request (exposed for tests).
struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Set for downloads: the file name a browser saves the body as.
  std::string download_name{};
};
AdminResponse HandleAdminRequest(const AdminHandlers& handlers,
                                 const AdminRequest& request);
// GET/HEAD without Origin and Host (the unit tests' shorthand).
AdminResponse HandleAdminRequest(const AdminHandlers& handlers,
                                 absl::string_view method,
                                 absl::string_view target,
                                 absl::string_view authorization);

}  // namespace matgto::admin
