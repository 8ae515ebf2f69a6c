// Connection's life and what a connection can turn into: start, drain
// (RequestClose), cancel and close; TLS toward the client (interception,
// --reverse-tls) and the hand-off to HTTP/2 (h2.h); CONNECT tunnels,
// intercepted or relayed byte for byte (--no-intercept). The requests read
// on a connection are connection_requests.cc, the responses written
// connection_delivery.cc, WebSocket upgrades connection_ws.cc.
#include "server/proxy/connection.h"

#include <fnmatch.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/proxy/coro.h"
#include "server/proxy/h2.h"
#include "server/proxy/proxy_server.h"
#include "server/proxy/resolver.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

bool MatchesAny(const std::vector<std::string>& globs,
                const std::string& host) {
  for (const std::string& g : globs) {
    if (::fnmatch(g.c_str(), host.c_str(), FNM_CASEFOLD) == 0) return true;
  }
  return false;
}

asio::awaitable<void> Relay(beast::tcp_stream& from, beast::tcp_stream& to,
                            absl::Duration idle) {
  std::array<char, 16 * 1024> data;
  for (;;) {
    from.expires_after(Chrono(idle));
    auto [ec, n] = co_await from.async_read_some(asio::buffer(data), kAwait);
    if (ec) break;
    to.expires_after(Chrono(idle));
    auto [wec, wn] =
        co_await asio::async_write(to, asio::buffer(data.data(), n), kAwait);
    if (wec) break;
  }
  beast::error_code ignored;
  to.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

Connection::Connection(uint64_t id, tcp::socket socket,
                       const ProxyConfig& config, const TlsServices& tls,
                       core::ExchangeHandler& handler,
                       std::shared_ptr<ProxyServer> server)
    : id_(id),
      config_(config),
      tls_(tls),
      handler_(handler),
      server_(std::move(server)),
      client_(std::move(socket)),
      upstream_(client_.get_executor(), config, tls.upstream,
                tls.verify_upstream),
      request_deadline_(client_.get_executor(), &Connection::OnRequestTimeout),
      idle_deadline_(client_.get_executor(), &Connection::OnIdleTimeout),
      write_deadline_(client_.get_executor(), &Connection::OnWriteTimeout),
      delivery_timer_(client_.get_executor()) {
  if (config_.metrics != nullptr) config_.metrics->open_connections.Add(1);
}

Connection::~Connection() {
  if (config_.metrics != nullptr) config_.metrics->open_connections.Add(-1);
}

void Connection::Start() {
  asio::co_spawn(
      client_.get_executor(), Run(shared_from_this()),
      [](std::exception_ptr e) {
        // Nothing in Run throws by design (every operation reports through an
        // error_code); an exception here is a bug, reported but contained.
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::fprintf(stderr, "matgto: connection ended by exception: %s\n",
                         ex.what());
          }
        }
      });
}

void Connection::RequestClose() {
  asio::dispatch(client_.get_executor(), [self = shared_from_this()] {
    self->closing_ = true;
    if (self->idle_) {
      beast::error_code ignored;
      self->client_.socket().cancel(ignored);
    }
  });
}

void Connection::Cancel() {
  asio::dispatch(client_.get_executor(), [self = shared_from_this()] {
    self->closing_ = true;
    beast::error_code ignored;
    self->client_.socket().close(ignored);
    self->delivery_timer_.cancel();
    self->upstream_.Cancel();
  });
}

asio::awaitable<void> Connection::Run(std::shared_ptr<Connection> self) {
  route_.listener = server_->route();
  bool serve = true;
  if (config_.reverse_upstream.has_value()) {
    const core::UrlParts& up = *config_.reverse_upstream;
    origin_ = Origin{up.scheme, up.host, up.port};
    if (config_.reverse_tls) serve = co_await StartServerTls(up.host);
  }
  while (serve && !closing_) {
    if (!co_await HandleOne()) break;
  }
  if (h2_next_ && !closing_) co_await ServeHttp2();
  co_await Close();
  server_->Unregister(id_);
}

asio::awaitable<void> Connection::Close() {
  beast::error_code ignored;
  if (client_tls_.has_value()) {
    client_.expires_after(std::chrono::seconds(1));
    co_await client_tls_->async_shutdown(kAwait);
  }
  client_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  client_.socket().close(ignored);
  upstream_.Close();
}

asio::awaitable<bool> Connection::StartServerTls(const std::string& host) {
  if (tls_.interception == nullptr) co_return false;
  tls_host_ = host;
  client_tls_.emplace(client_, tls_.interception->context());
  tls_.interception->SetFallbackHost(client_tls_->native_handle(), &tls_host_);
  client_.expires_after(Chrono(config_.handshake_timeout));
  auto [ec, used] = co_await client_tls_->async_handshake(
      asio::ssl::stream_base::server, buffer_.data(), kAwait);
  if (ec) {
    // A client that does not trust our CA aborts here; nothing to answer.
    client_tls_.reset();
    co_return false;
  }
  buffer_.consume(used);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(client_tls_->native_handle(), &alpn, &alpn_len);
  h2_next_ = config_.http2 && alpn_len == 2 && std::memcmp(alpn, "h2", 2) == 0;
  co_return true;
}

asio::awaitable<void> Connection::ServeHttp2() {
  H2Context context;
  context.config = &config_;
  context.handler = &handler_;
  context.route = route_;
  context.route.credential = tunnel_credential_;
  if (origin_.has_value()) {
    context.origin =
        H2Context::Origin{origin_->scheme, origin_->host, origin_->port};
  }
  context.client_tls = client_tls_.has_value();
  context.upstream_tls = tls_.upstream;
  context.verify_upstream = tls_.verify_upstream;
  context.closing = &closing_;
  // A drain (RequestClose) cancels the session's read; it then ends.
  idle_ = true;
  if (client_tls_.has_value()) {
    co_await ServeH2(*client_tls_, buffer_, std::move(context));
  } else {
    co_await ServeH2(client_, buffer_, std::move(context));
  }
}

asio::awaitable<bool> Connection::HandleConnect(std::string target,
                                                int version) {
  std::string host;
  uint16_t port = 0;
  if (origin_.has_value() || !ParseConnectTarget(target, host, port)) {
    // (Built outside the co_await: GCC 12 double-destroys temporaries of a
    // conditional expression inside a co_await expression.)
    std::string message =
        origin_.has_value()
            ? std::string("matgto: CONNECT inside a tunnel is not supported")
            : absl::StrCat("matgto: bad CONNECT target '", target,
                           "'; expected host:port");
    co_await WriteError(400, "bad-connect", std::move(message), version, false);
    co_return false;
  }
  // Whether the tunnel would be relayed byte for byte (so nothing in it can
  // be recorded or replayed) is the handler's to weigh, with the session.
  const bool relayed =
      tls_.interception == nullptr || MatchesAny(config_.no_intercept, host);
  if (std::optional<core::Reply> refusal = handler_.OnConnect(
          route_, core::ConnectTarget{host, port, relayed})) {
    co_await Write(*refusal->response, false, version, false);
    co_return false;
  }
  if (relayed) {
    co_await RelayTunnel(host, port, version);
    co_return false;
  }
  if (!co_await WriteEstablished(version)) co_return false;

  // Peek at the first bytes: a TLS ClientHello starts with 0x16.
  if (buffer_.size() == 0) {
    idle_ = true;
    client_.expires_after(Chrono(config_.idle_timeout));
    auto [rec, n] =
        co_await client_.async_read_some(buffer_.prepare(16 * 1024), kAwait);
    idle_ = false;
    if (rec) co_return false;
    buffer_.commit(n);
  }
  const bool tls =
      static_cast<const unsigned char*>(buffer_.data().data())[0] == 0x16;
  if (tls) {
    if (!co_await StartServerTls(host)) co_return false;
    origin_ = Origin{"https", host, port};
  } else {
    origin_ = Origin{"http", host, port};
  }
  co_return true;
}

asio::awaitable<void> Connection::RelayTunnel(const std::string& host,
                                              uint16_t port, int version) {
  // The upstream is reached before the client is told the tunnel is open,
  // so a failure is a status, not a closed tunnel.
  ResolveOutcome resolved =
      co_await Resolve(client_.get_executor(), host, port, config_.dns_timeout);
  if (!resolved.error_code.empty()) {
    co_await WriteError(resolved.status, resolved.error_code,
                        std::move(resolved.message), version, false);
    co_return;
  }
  beast::tcp_stream upstream(client_.get_executor());
  upstream.expires_after(Chrono(config_.upstream_connect_timeout));
  auto [cec, ep] = co_await upstream.async_connect(resolved.endpoints, kAwait);
  if (cec) {
    // (Built outside the co_await: see HandleConnect.)
    std::string message = absl::StrCat(
        "matgto: cannot connect to ", core::HostPort(host, port), ": ",
        cec == beast::error::timeout ? "connection timed out" : cec.message());
    co_await WriteError(502, "upstream-unreachable", std::move(message),
                        version, false);
    co_return;
  }
  if (!co_await WriteEstablished(version)) co_return;
  if (buffer_.size() > 0) {
    auto [wec, wn] =
        co_await asio::async_write(upstream, buffer_.data(), kAwait);
    if (wec) co_return;
    buffer_.consume(buffer_.size());
  }
  using namespace asio::experimental::awaitable_operators;
  co_await (Relay(client_, upstream, config_.idle_timeout) &&
            Relay(upstream, client_, config_.idle_timeout));
}

asio::awaitable<bool> Connection::WriteEstablished(int version) {
  http::response<http::empty_body> established{http::status::ok, version};
  established.reason("Connection Established");
  client_.expires_after(Chrono(config_.write_timeout));
  auto [wec, wn] = co_await http::async_write(client_, established, kAwait);
  client_.expires_never();
  co_return !wec;
}

}  // namespace matgto::proxy
