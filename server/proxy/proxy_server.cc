#include "server/proxy/proxy_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/str_cat.h"
#include "server/core/url.h"
#include "server/proxy/connection.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

}  // namespace

ProxyServer::ProxyServer(asio::io_context& ioc, ProxyConfig config,
                         TlsServices tls, core::ExchangeHandler& handler)
    : ioc_(ioc),
      config_(std::move(config)),
      tls_(tls),
      handler_(handler),
      acceptor_(asio::make_strand(ioc)) {}

ProxyServer::~ProxyServer() = default;

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Create(
    asio::io_context& ioc, ProxyConfig config, TlsServices tls,
    core::ExchangeHandler& handler) {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(config.bind_address, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad proxy bind address '", config.bind_address, "': ", ec.message()));
  }
  tcp::endpoint endpoint(address, config.port);
  std::unique_ptr<ProxyServer> server(
      new ProxyServer(ioc, std::move(config), tls, handler));
  tcp::acceptor& acceptor = server->acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) return server;
  return absl::UnavailableError(absl::StrCat(
      "cannot listen on ",
      core::HostPort(endpoint.address().to_string(), endpoint.port()),
      " for the proxy: ", ec.message()));
}

std::string ProxyServer::address() const {
  boost::system::error_code ec;
  tcp::endpoint ep = acceptor_.local_endpoint(ec);
  if (ec) return "";
  return core::HostPort(ep.address().to_string(), ep.port());
}

void ProxyServer::Start() {
  asio::co_spawn(
      acceptor_.get_executor(),
      [this]() -> asio::awaitable<void> {
        while (!stopping_.load()) {
          auto [ec, socket] =
              co_await acceptor_.async_accept(asio::make_strand(ioc_), kAwait);
          if (ec) {
            if (ec == asio::error::operation_aborted || stopping_.load()) break;
            // Out of descriptors and similar: back off briefly, keep serving.
            asio::steady_timer timer(acceptor_.get_executor(),
                                     std::chrono::milliseconds(50));
            co_await timer.async_wait(kAwait);
            continue;
          }
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          const uint64_t id = next_connection_id_.fetch_add(1);
          auto connection = std::make_shared<Connection>(
              id, std::move(socket), config_, tls_, handler_, *this);
          Register(id, connection);
          connection->Start();
        }
      },
      asio::detached);
}

void ProxyServer::Register(uint64_t id, std::weak_ptr<Connection> connection) {
  absl::MutexLock lock(&mu_);
  connections_.emplace(id, std::move(connection));
}

void ProxyServer::Unregister(uint64_t id) {
  absl::MutexLock lock(&mu_);
  connections_.erase(id);
}

void ProxyServer::Shutdown(absl::Duration grace, std::function<void()> done) {
  stopping_.store(true);
  asio::dispatch(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  std::vector<std::shared_ptr<Connection>> live;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, weak] : connections_) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) c->RequestClose();
  live.clear();
  // Poll until every connection has unregistered or the grace period ends.
  asio::co_spawn(
      ioc_,
      [this, grace, done = std::move(done)]() -> asio::awaitable<void> {
        const absl::Time deadline = absl::Now() + grace;
        asio::steady_timer timer(ioc_);
        for (;;) {
          {
            absl::MutexLock lock(&mu_);
            if (connections_.empty()) break;
          }
          if (absl::Now() >= deadline) break;
          timer.expires_after(std::chrono::milliseconds(20));
          co_await timer.async_wait(kAwait);
        }
        done();
      },
      asio::detached);
}

}  // namespace matgto::proxy
