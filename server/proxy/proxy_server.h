// The proxy listener: accepts client connections and runs one Connection
// coroutine per socket, each on its own strand.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/exchange_handler.h"
#include "server/proxy/config.h"
#include "server/proxy/tls_services.h"

namespace matgto::proxy {

class Connection;

// Thread-safety: Start/Shutdown/address may be called from any thread.
// Connections register and unregister themselves under `mu_`.
class ProxyServer {
 public:
  // Binds the listening socket (so port 0 resolves to a real port) without
  // accepting yet. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ProxyServer>> Create(
      boost::asio::io_context& ioc, ProxyConfig config, TlsServices tls,
      core::ExchangeHandler& handler);
  ~ProxyServer();

  // "127.0.0.1:8888" as actually bound.
  std::string address() const;
  // Starts the accept loop.
  void Start();
  // Stops accepting and closes idle connections; busy ones finish the
  // exchange in flight. Calls `done` (on an I/O thread) once every connection
  // has ended or `grace` has passed.
  void Shutdown(absl::Duration grace, std::function<void()> done);

  // Called by connections.
  void Register(uint64_t id, std::weak_ptr<Connection> connection);
  void Unregister(uint64_t id);

 private:
  ProxyServer(boost::asio::io_context& ioc, ProxyConfig config, TlsServices tls,
              core::ExchangeHandler& handler);

  boost::asio::io_context& ioc_;
  const ProxyConfig config_;
  const TlsServices tls_;
  core::ExchangeHandler& handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<bool> stopping_{false};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::weak_ptr<Connection>> connections_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::proxy
