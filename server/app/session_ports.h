// The session listeners of `matgto serve`: each new session gets a proxy
// listener of its own (proxy::ProxyServer), on a port of --session-ports or
// an ephemeral one. Implements core::SessionListeners for the session
// manager, which never sees a socket.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/exchange_handler.h"
#include "server/core/session_listeners.h"
#include "server/proxy/config.h"
#include "server/proxy/io_pool.h"
#include "server/proxy/proxy_server.h"
#include "server/proxy/tls_services.h"

namespace matgto::app {

// Inclusive port range; {0, 0}: an ephemeral port each time.
struct PortRange {
  uint16_t low = 0;
  uint16_t high = 0;
};

// "LOW-HIGH" with 1 <= LOW <= HIGH <= 65535.
absl::StatusOr<PortRange> ParsePortRange(absl::string_view text);

// Thread-safety: Open, Drain and shared_address may be called from any
// thread; `mu_` guards the range cursor and the list of open listeners.
class ProxySessionListeners final : public core::SessionListeners {
 public:
  // `config` is the shared proxy's (bind address, limits, reverse mode);
  // each listener copies it with its own port.
  ProxySessionListeners(proxy::IoPool& pool, proxy::ProxyConfig config,
                        proxy::TlsServices tls, PortRange range);

  // Wires the handler every listener hands requests to and the shared
  // port's address. Called once, before the first Open.
  void Bind(core::ExchangeHandler& handler, std::string shared_address);

  absl::StatusOr<std::unique_ptr<core::SessionListener>> Open(
      uint64_t key) override;
  std::string shared_address() const override;

  // Shutdown: stops accepting on every open listener and gives busy
  // connections up to `grace` to finish. Blocks the caller (the main
  // thread) until then.
  void Drain(absl::Duration grace);

 private:
  proxy::IoPool& pool_;
  const proxy::ProxyConfig config_;
  const proxy::TlsServices tls_;
  const PortRange range_;

  mutable absl::Mutex mu_;
  core::ExchangeHandler* handler_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string shared_address_ ABSL_GUARDED_BY(mu_);
  // Next port of the range to try first (spreads sessions over the range,
  // so a port just freed is not reused at once).
  uint32_t cursor_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::weak_ptr<proxy::ProxyServer>> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::app
