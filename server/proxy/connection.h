// One client connection: reads requests, asks the ExchangeHandler what to
// do, forwards to upstreams or answers, writes responses. Runs as a C++20
// coroutine on the strand of its socket, so its state needs no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "server/core/exchange_handler.h"
#include "server/core/url.h"
#include "server/proxy/config.h"

namespace matgto::proxy {

class ProxyServer;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `socket` must already be bound to a strand executor.
  Connection(uint64_t id, boost::asio::ip::tcp::socket socket,
             const ProxyConfig& config, core::ExchangeHandler& handler,
             ProxyServer& server);

  // Spawns the connection's coroutine.
  void Start();
  // Thread-safe. Closes the connection now if it is waiting for a request;
  // otherwise after the exchange in flight.
  void RequestClose();

 private:
  struct Outcome;

  boost::asio::awaitable<void> Run();
  // Handles one request; false when the connection must close.
  boost::asio::awaitable<bool> HandleOne();
  boost::asio::awaitable<Outcome> Fetch(const core::HttpRequest& request,
                                        const core::UrlParts& url);
  boost::asio::awaitable<bool> ConnectUpstream(const core::UrlParts& url,
                                               std::string& error);
  // Writes `response`; false when the client is gone.
  boost::asio::awaitable<bool> Write(const core::HttpResponse& response,
                                     bool head_request, int version,
                                     bool keep_alive);
  boost::asio::awaitable<bool> WriteError(int status, absl::string_view code,
                                          std::string message, int version,
                                          bool keep_alive);
  void CloseUpstream();

  const uint64_t id_;
  const ProxyConfig& config_;
  core::ExchangeHandler& handler_;
  ProxyServer& server_;

  // Everything below is touched only on the strand.
  boost::beast::tcp_stream client_;
  boost::beast::flat_buffer buffer_;
  // One cached upstream connection (keep-alive), for `upstream_key_`.
  std::optional<boost::beast::tcp_stream> upstream_;
  std::string upstream_key_;
  boost::beast::flat_buffer upstream_buffer_;
  bool idle_ = true;
  bool closing_ = false;
};

}  // namespace matgto::proxy
