#include "server/proxy/proxy_server.h"

#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <future>

#include "absl/strings/str_cat.h"
#include "server/core/http.h"
#include "server/core/url.h"
#include "server/proxy/connection.h"
#include "server/proxy/coro.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Answers a connection beyond --max-connections with a 503 and closes it,
// after reading what the client sent (for at most a second) so that the
// close does not reset the connection before the client read the answer.
asio::awaitable<void> Refuse(tcp::socket socket, uint32_t max_connections) {
  beast::tcp_stream stream(std::move(socket));
  core::HttpResponse response = core::MakeErrorResponse(
      503, "too-many-connections",
      absl::StrCat("matgto: this proxy port already has ", max_connections,
                   " open connections (--max-connections); close some or "
                   "try again later\n"));
  response.headers.push_back({"Retry-After", "1"});
  absl::StatusOr<WireResponse> wire = ToWire(response, 11, false);
  if (!wire.ok()) co_return;
  stream.expires_after(std::chrono::seconds(1));
  auto [wec, wn] = co_await http::async_write(stream, *wire, kAwait);
  beast::error_code ignored;
  if (!wec) {
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    std::array<char, 4096> sink;
    for (;;) {
      auto [rec, rn] =
          co_await stream.async_read_some(asio::buffer(sink), kAwait);
      if (rec) break;
    }
  }
  stream.socket().close(ignored);
}

}  // namespace

ProxyServer::ProxyServer(IoPool& pool, ProxyConfig config, TlsServices tls,
                         core::ExchangeHandler& handler, uint64_t route)
    : pool_(pool),
      ioc_(pool.context(0)),
      config_(std::move(config)),
      tls_(tls),
      handler_(handler),
      route_(route) {}

ProxyServer::~ProxyServer() = default;

absl::StatusOr<std::shared_ptr<ProxyServer>> ProxyServer::Create(
    IoPool& pool, ProxyConfig config, TlsServices tls,
    core::ExchangeHandler& handler, uint64_t route, bool* in_use) {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(config.bind_address, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad proxy bind address '", config.bind_address, "': ", ec.message()));
  }
  tcp::endpoint endpoint(address, config.port);
  std::shared_ptr<ProxyServer> server(
      new ProxyServer(pool, std::move(config), tls, handler, route));
  auto first = std::make_unique<tcp::acceptor>(pool.context(0));
  tcp::acceptor& acceptor = *first;
  server->acceptors_.push_back(std::move(first));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) {
    // Every other context of the pool accepts from the same listening
    // socket (a dup of it in its own epoll set), as nginx workers share
    // theirs; each accepted socket goes to the pool's next context.
    // (Not SO_REUSEPORT, which would let a second server bound to the
    // same port silently take half of its connections.)
    for (int i = 1; i < pool.size(); ++i) {
      const int fd = ::dup(acceptor.native_handle());
      if (fd < 0) break;
      auto more = std::make_unique<tcp::acceptor>(pool.context(i));
      boost::system::error_code aec;
      more->assign(endpoint.protocol(), fd, aec);
      if (aec) {
        ::close(fd);
        break;
      }
      server->acceptors_.push_back(std::move(more));
    }
    return server;
  }
  if (in_use != nullptr) *in_use = ec == asio::error::address_in_use;
  return absl::UnavailableError(absl::StrCat(
      "cannot listen on ",
      core::HostPort(endpoint.address().to_string(), endpoint.port()),
      " for the proxy: ", ec.message()));
}

std::string ProxyServer::address() const {
  boost::system::error_code ec;
  tcp::endpoint ep = acceptors_.front()->local_endpoint(ec);
  if (ec) return "";
  return core::HostPort(ep.address().to_string(), ep.port());
}

void ProxyServer::Start() {
  for (const std::unique_ptr<tcp::acceptor>& a : acceptors_) {
    Accept(*a);
  }
}

void ProxyServer::Accept(tcp::acceptor& acceptor) {
  asio::co_spawn(
      acceptor.get_executor(),
      [self = shared_from_this(), &acceptor]() -> asio::awaitable<void> {
        while (!self->stopping_.load()) {
          // The connection runs on one context all its life (no strand, no
          // thread hop per request), chosen in turn: whichever thread wins
          // the accept, connections are spread evenly over the threads.
          // Its socket is accepted straight onto that context.
          auto [ec, socket] =
              co_await acceptor.async_accept(self->pool_.Next(), kAwait);
          if (ec) {
            if (ec == asio::error::operation_aborted ||
                self->stopping_.load()) {
              break;
            }
            // Out of descriptors and similar: back off briefly, keep serving.
            asio::steady_timer timer(acceptor.get_executor(),
                                     std::chrono::milliseconds(50));
            co_await timer.async_wait(kAwait);
            continue;
          }
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          // The connection is built on its own thread: what it allocates is
          // freed there too (a block freed by another thread than the one
          // that allocated it takes that thread's malloc arena lock; with
          // a new connection per request the two threads contended on it).
          // (dispatch: at once when that is this thread, else posted.)
          auto executor = socket.get_executor();
          asio::dispatch(executor,
                         [self, socket = std::move(socket)]() mutable {
                           self->Serve(std::move(socket));
                         });
        }
      },
      asio::detached);
}

void ProxyServer::Serve(tcp::socket socket) {
  if (stopping_.load()) return;
  if (Count() >= config_.max_connections) {
    auto executor = socket.get_executor();
    asio::co_spawn(executor, Refuse(std::move(socket), config_.max_connections),
                   asio::detached);
    return;
  }
  const uint64_t id = next_connection_id_.fetch_add(1);
  auto connection = std::make_shared<Connection>(
      id, std::move(socket), config_, tls_, handler_, shared_from_this());
  Register(id, connection);
  connection->Start();
}

void ProxyServer::Register(uint64_t id, std::weak_ptr<Connection> connection) {
  absl::MutexLock lock(&mu_);
  connections_.emplace(id, std::move(connection));
}

size_t ProxyServer::Count() const {
  absl::MutexLock lock(&mu_);
  return connections_.size() - claims_.size();
}

bool ProxyServer::Claim(uint64_t id, const std::string& credential) {
  absl::MutexLock lock(&mu_);
  auto claim = claims_.find(id);
  if (claim != claims_.end() && claim->second == credential) return true;
  if (per_credential_[credential] >= config_.max_connections) {
    if (per_credential_[credential] == 0) per_credential_.erase(credential);
    return false;
  }
  ++per_credential_[credential];
  if (claim != claims_.end()) {
    ReleaseClaim(claim->second);
    claim->second = credential;
  } else {
    claims_.emplace(id, credential);
  }
  return true;
}

void ProxyServer::ReleaseClaim(const std::string& credential) {
  auto it = per_credential_.find(credential);
  if (it != per_credential_.end() && --it->second == 0) {
    per_credential_.erase(it);
  }
}

void ProxyServer::Unregister(uint64_t id) {
  bool drained = false;
  {
    absl::MutexLock lock(&mu_);
    connections_.erase(id);
    if (auto claim = claims_.find(id); claim != claims_.end()) {
      ReleaseClaim(claim->second);
      claims_.erase(claim);
    }
    drained = connections_.empty() && on_drained_ != nullptr;
  }
  if (drained) Finish();
}

void ProxyServer::CloseAcceptor() {
  stopping_.store(true);
  std::vector<std::future<void>> done;
  for (const std::unique_ptr<tcp::acceptor>& a : acceptors_) {
    auto closed = std::make_shared<std::promise<void>>();
    done.push_back(closed->get_future());
    asio::dispatch(a->get_executor(),
                   [self = shared_from_this(), acceptor = a.get(), closed] {
                     boost::system::error_code ignored;
                     acceptor->close(ignored);
                     closed->set_value();
                   });
  }
  // The port is free when this returns (a session stopped then opened
  // again gets its port back), unless an acceptor's thread no longer runs
  // (shutdown).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (std::future<void>& d : done) d.wait_until(deadline);
}

std::vector<std::shared_ptr<Connection>> ProxyServer::Live() {
  std::vector<std::shared_ptr<Connection>> live;
  absl::MutexLock lock(&mu_);
  for (auto& [id, weak] : connections_) {
    if (auto c = weak.lock()) live.push_back(std::move(c));
  }
  return live;
}

void ProxyServer::Close() {
  CloseAcceptor();
  for (const std::shared_ptr<Connection>& c : Live()) c->Cancel();
}

void ProxyServer::Finish() {
  std::function<void()> done;
  std::shared_ptr<asio::steady_timer> timer;
  {
    absl::MutexLock lock(&mu_);
    done = std::move(on_drained_);
    on_drained_ = nullptr;
    timer = std::move(grace_timer_);
  }
  if (timer != nullptr) timer->cancel();
  if (done) done();
}

void ProxyServer::Shutdown(absl::Duration grace, std::function<void()> done) {
  CloseAcceptor();
  // Whatever is still busy when the grace period ends is cancelled; the
  // last connection to unregister then calls `done`. The wait starts before
  // the timer is published under mu_: the last connection's thread cancels
  // it (Finish), and a timer's operations must not overlap.
  auto timer = std::make_shared<asio::steady_timer>(ioc_, Chrono(grace));
  timer->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;  // drained in time
    for (const std::shared_ptr<Connection>& c : self->Live()) c->Cancel();
  });
  bool drained = false;
  {
    absl::MutexLock lock(&mu_);
    on_drained_ = std::move(done);
    grace_timer_ = std::move(timer);
    drained = connections_.empty();
  }
  if (drained) {
    Finish();
    return;
  }
  for (const std::shared_ptr<Connection>& c : Live()) c->RequestClose();
}

}  // namespace matgto::proxy
