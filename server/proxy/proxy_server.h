// A proxy listener: accepts client connections and runs one Connection
// coroutine per socket, on one context of the I/O pool (in turn). The
// shared proxy port is one ProxyServer; every session with a port of its own
// gets another, whose requests carry its route key (core::Route::listener).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/exchange_handler.h"
#include "server/proxy/config.h"
#include "server/proxy/io_pool.h"
#include "server/proxy/tls_services.h"

namespace matgto::proxy {

class Connection;

// Thread-safety: Start/Close/Shutdown/address may be called from any
// thread. Connections register and unregister themselves under `mu_`; each
// holds a shared_ptr to its server, so a closed listener outlives the
// connections it cancelled.
class ProxyServer : public std::enable_shared_from_this<ProxyServer> {
 public:
  // Binds the listening socket (so port 0 resolves to a real port) without
  // accepting yet. UNAVAILABLE when the address cannot be bound (with
  // `in_use` set when the port was taken). Requests arriving here are routed
  // with `route` (0: the shared proxy port).
  static absl::StatusOr<std::shared_ptr<ProxyServer>> Create(
      IoPool& pool, ProxyConfig config, TlsServices tls,
      core::ExchangeHandler& handler, uint64_t route = 0,
      bool* in_use = nullptr);
  ~ProxyServer();

  // "127.0.0.1:8888" as actually bound.
  std::string address() const;
  uint64_t route() const { return route_; }
  // Starts the accept loop.
  void Start();
  // Stops accepting and cancels every connection now: their sockets and
  // upstream sockets are closed, whatever they were doing. Never blocks.
  void Close();
  // Stops accepting and closes idle connections; busy ones finish the
  // exchange in flight. Calls `done` (on an I/O thread) once every
  // connection has ended, or after `grace`, when the rest are cancelled.
  void Shutdown(absl::Duration grace, std::function<void()> done);

  // Open connections not counted for a session credential (beyond
  // ProxyConfig::max_connections, new ones are answered 503
  // `too-many-connections`).
  size_t Count() const;

  // Counts connection `id` for the session `credential` names on this port
  // (the shared port routes by credential; each session has a budget of
  // max_connections, as a session with a port of its own has), instead of
  // for the port itself. False when that session already has
  // max_connections open: the connection is to be refused. A connection
  // moves when a later request carries another credential.
  bool Claim(uint64_t id, const std::string& credential);

  // Called by connections.
  void Register(uint64_t id, std::weak_ptr<Connection> connection);
  void Unregister(uint64_t id);

 private:
  ProxyServer(IoPool& pool, ProxyConfig config, TlsServices tls,
              core::ExchangeHandler& handler, uint64_t route);
  // Runs the accept loop of `acceptor` on its context.
  void Accept(boost::asio::ip::tcp::acceptor& acceptor);
  // Counts `socket` against --max-connections and serves it (or refuses
  // it); called on the socket's own context.
  void Serve(boost::asio::ip::tcp::socket socket);
  void CloseAcceptor();
  std::vector<std::shared_ptr<Connection>> Live();
  // Calls the pending Shutdown callback, once.
  void Finish();
  void ReleaseClaim(const std::string& credential)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  IoPool& pool_;
  // The context of the first acceptor (grace timer).
  boost::asio::io_context& ioc_;
  const ProxyConfig config_;
  const TlsServices tls_;
  core::ExchangeHandler& handler_;
  const uint64_t route_;
  // One per context of the pool, all on one listening socket (the first
  // is bound, the others hold dups of it). Set by Create, then fixed.
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<bool> stopping_{false};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::weak_ptr<Connection>> connections_
      ABSL_GUARDED_BY(mu_);
  // The credential each claimed connection is counted for, and how many
  // connections each credential has.
  absl::flat_hash_map<uint64_t, std::string> claims_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> per_credential_
      ABSL_GUARDED_BY(mu_);
  // Set by Shutdown; called when the last connection unregisters.
  std::function<void()> on_drained_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<boost::asio::steady_timer> grace_timer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::proxy
