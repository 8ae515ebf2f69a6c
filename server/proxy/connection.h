// One client connection: reads requests, asks the ExchangeHandler what to
// do, forwards to upstreams or answers, writes responses. Handles CONNECT
// (TLS interception with a leaf from the CA, plain HTTP inside a tunnel, or
// a byte relay for --no-intercept hosts) and reverse mode. Runs as a C++20
// coroutine on the strand of its socket, so its state needs no lock.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <variant>

#include "server/core/exchange_handler.h"
#include "server/core/url.h"
#include "server/proxy/config.h"
#include "server/proxy/lazy_deadline.h"
#include "server/proxy/ready_read.h"
#include "server/proxy/tls_services.h"
#include "server/proxy/upstream.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {

class ProxyServer;

class Connection;

// Writes a relayed response (UpstreamClient::Fetch) to the connection's
// client as it arrives, its body re-framed as chunked.
class ClientRelay final : public ResponseRelay {
 public:
  // The whole response is handed to the handler (OnForwarded with
  // `ticket`, `request`) before the client gets the end of its body, so an
  // exchange the client has seen is recorded.
  ClientRelay(Connection& connection, bool keep_alive,
              const core::Forward& ticket, const core::HttpRequest& request)
      : connection_(connection),
        keep_alive_(keep_alive),
        ticket_(ticket),
        request_(request) {}
  boost::asio::awaitable<bool> Head(const core::HttpResponse& head) override;
  boost::asio::awaitable<bool> Piece(std::string_view bytes) override;
  boost::asio::awaitable<bool> End(const core::HttpResponse* whole,
                                   const core::ExchangeTiming& timing,
                                   std::string_view last) override;
  bool KeepBody() const override { return ticket_.store; }
  core::BodySpooler* Spooler() const override {
    return ticket_.store ? ticket_.spooler.get() : nullptr;
  }

 private:
  Connection& connection_;
  const bool keep_alive_;
  const core::Forward& ticket_;
  const core::HttpRequest& request_;
  // The body goes chunked (a stream), or as it is under its Content-Length.
  bool chunked_ = true;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `socket` must already be bound to a strand executor.
  // `server` owns `config` and `tls`; the connection keeps it alive.
  Connection(uint64_t id, boost::asio::ip::tcp::socket socket,
             const ProxyConfig& config, const TlsServices& tls,
             core::ExchangeHandler& handler,
             std::shared_ptr<ProxyServer> server);
  ~Connection();

  // Spawns the connection's coroutine.
  void Start();
  // Thread-safe. Closes the connection now if it is waiting for a request;
  // otherwise after the exchange in flight.
  void RequestClose();
  // Thread-safe. Closes the connection now, whatever it is doing: the
  // client socket and any upstream socket are closed, so every pending
  // operation completes with operation_aborted and the coroutine ends.
  void Cancel();

 private:
  // Where requests inside a CONNECT tunnel (or in reverse mode) go.
  struct Origin {
    std::string scheme;
    std::string host;
    uint16_t port = 0;
  };

  // Holds `self` (a coroutine parameter lives in its frame): the connection
  // lives until its coroutine ends, however late the context starts it.
  boost::asio::awaitable<void> Run(std::shared_ptr<Connection> self);
  // Handles one request (connection_requests.cc); false when the
  // connection must close.
  using RequestParser =
      http::request_parser<http::string_body, FieldsAllocator>;
  boost::asio::awaitable<bool> HandleOne();
  // The steps of HandleOne. Each answers what it refuses (an error
  // response) and returns false when the connection must close.
  boost::asio::awaitable<bool> ReadHeader(RequestParser& parser);
  // What a failed header read gets (timed out, too large, malformed).
  RequestRefusal HeaderReadRefusal(const boost::beast::error_code& ec) const;
  // (Only for a request whose header says a body follows.)
  boost::asio::awaitable<bool> ReadBody(RequestParser& parser, int version);
  // A request's absolute URL, and whether its authority is what the Host
  // header says (an absolute-form target, reverse mode) whatever the client
  // sent (RFC 9112 3.2.2).
  struct RequestTarget {
    core::UrlParts url;
    bool host_from_url = false;
  };
  // The request's target, or why it is refused (for the caller to write).
  std::variant<RequestTarget, RequestRefusal> TargetUrl(
      const ClientRequest& request);
  // Hands the request to the session and writes what it decides: a reply,
  // or the upstream's response (or error) after forwarding it.
  boost::asio::awaitable<bool> Exchange(ClientRequest&& request,
                                        const RequestTarget& target,
                                        int version, bool keep_alive);
  boost::asio::awaitable<bool> HandleConnect(std::string target, int version);
  // A WebSocket upgrade (connection_ws.cc); the connection ends with it.
  boost::asio::awaitable<void> HandleUpgrade(const ClientRequest& request,
                                             core::UrlParts url);
  template <class Client>
  boost::asio::awaitable<bool> RelayUpgrade(
      Client& client,
      const boost::beast::http::request<boost::beast::http::string_body>&
          request,
      const core::UrlParts& url, const core::WsRelay& relay,
      core::HttpResponse& refusal);
  boost::asio::awaitable<bool> StartServerTls(const std::string& host);
  // The rest of the connection is HTTP/2 (h2.h): after ALPN h2, or a
  // plain connection that opened with the HTTP/2 preface.
  boost::asio::awaitable<void> ServeHttp2();
  // A --no-intercept tunnel: connects, then answers the CONNECT (200, or
  // the failure's status) and relays bytes both ways.
  boost::asio::awaitable<void> RelayTunnel(const std::string& host,
                                           uint16_t port, int version);
  boost::asio::awaitable<bool> WriteEstablished(int version);
  // Writes `response`; false when the client is gone.
  // A response that cannot be sent (ToWire) is answered 502 with
  // X-Matgto-Error `invalid_code` instead.
  boost::asio::awaitable<bool> Write(
      const core::HttpResponse& response, bool head_request, int version,
      bool keep_alive, absl::string_view invalid_code = "cassette-bad-response",
      const core::Delivery& delivery = {});
  // Writes a reply of the session's (a replayed response, most often):
  // when it goes out as is, its status line and header block are
  // serialized once, kept with the response (core::Memo) and sent with
  // its body in one gather write; otherwise as Write.
  boost::asio::awaitable<bool> WriteReply(const core::Reply& reply,
                                          bool head_request, int version,
                                          bool keep_alive);
  // A streamed body (HTTP/1.1, chunked): its head, each piece, the end. A
  // replayed one goes in its recorded pieces (WriteStreamed), paced as
  // Delivery::stream_speed says.
  friend class ClientRelay;
  // `chunked` false: the head keeps its Content-Length and the pieces go
  // as they are (a large body of known length).
  boost::asio::awaitable<bool> WriteStreamHead(const core::HttpResponse& head,
                                               bool keep_alive,
                                               bool chunked = true);
  boost::asio::awaitable<bool> WriteStreamPiece(std::string_view bytes,
                                                bool chunked = true);
  boost::asio::awaitable<bool> WriteStreamEnd();
  boost::asio::awaitable<bool> WriteStreamed(const core::Reply& reply,
                                             bool keep_alive);
  // Write with latency or a fault (connection_delivery.cc): waits, paces the
  // body, or breaks the connection as `delivery` says. False when the
  // connection must close (always after a break).
  boost::asio::awaitable<bool> Deliver(WireResponse& message, bool header_only,
                                       const core::Delivery& delivery);
  template <class Stream>
  boost::asio::awaitable<bool> DeliverOn(Stream& stream, WireResponse& message,
                                         bool header_only,
                                         const core::Delivery& delivery);
  // Waits `d` on delivery_timer_; false when cancelled.
  boost::asio::awaitable<bool> Pause(absl::Duration d);
  // Holds the connection until the client closes it (or it is cancelled).
  boost::asio::awaitable<void> Hang();
  // Closes the client's TCP connection with a RST.
  void Reset();
  // Counts this connection for the session its credential names (shared
  // port only); false when that session has --max-connections open.
  bool ClaimForCredential();
  boost::asio::awaitable<void> RefuseForCredential(int version);
  boost::asio::awaitable<bool> WriteError(int status, absl::string_view code,
                                          std::string message, int version,
                                          bool keep_alive);
  boost::asio::awaitable<void> Close();
  // The --request-timeout of the request being read: on expiry the pending
  // read is cancelled (the socket stays open for the 408) and `timed_out_`
  // is set. Stop forgets it. The timer is not armed and cancelled for each
  // request of a keep-alive connection (that cost as much as a tenth of a
  // forwarded exchange's CPU): one wait stays pending, and when it ends
  // before the deadline that stands by then, it waits again for it.
  // Writes `bytes` (a header block and a body) within --write-timeout;
  // false when the client is gone or too slow.
  boost::asio::awaitable<bool> WriteNow(
      const std::array<boost::asio::const_buffer, 2>& bytes);
  void StartRequestDeadline();
  void StopRequestDeadline();
  // What each LazyDeadline does when it passes: the pending read or write
  // is cancelled (a request timeout also sets `timed_out_`, for the 408).
  void OnRequestTimeout();
  void OnIdleTimeout();
  void OnWriteTimeout();
  // Calls f(stream) with the TLS stream when the client speaks TLS, else the
  // TCP stream.
  template <class F>
  auto OnClient(F&& f);

  const uint64_t id_;
  const ProxyConfig& config_;
  const TlsServices& tls_;
  core::ExchangeHandler& handler_;
  const std::shared_ptr<ProxyServer> server_;

  // Everything below is touched only on the strand.
  boost::beast::tcp_stream client_;
  std::optional<boost::asio::ssl::stream<boost::beast::tcp_stream&>>
      client_tls_;
  boost::beast::flat_buffer buffer_;
  // Reads the first bytes of each request (see ready_read.h).
  ReadyReader reader_;
  std::optional<Origin> origin_;
  // The host a client certificate is made for when the client sends no SNI.
  std::string tls_host_;
  UpstreamClient upstream_;
  // Which session this connection's requests are for (the listener; and
  // the credential of the CONNECT that opened a tunnel).
  core::Route route_;
  // The credential of the CONNECT that opened the tunnel this connection
  // now carries; requests inside it that send none use it.
  std::string tunnel_credential_;
  // The credential ProxyServer::Claim counts this connection for.
  std::string claimed_credential_;
  // The request being handled: its fields' memory, and the request as the
  // handler sees it (reused: a warm connection converts without malloc).
  // The fields of the request being handled, and of the response written
  // for it (one of each at a time).
  FieldsArena arena_{2048};
  FieldsArena reply_arena_{2048};
  // The status line and header block of the reply being written (reused:
  // one reply at a time).
  std::string reply_head_;
  core::HttpRequest exchange_;
  // What the upstream answered the exchange in flight (see FetchInto).
  FetchOutcome outcome_;
  // --request-timeout, --idle-timeout and --write-timeout of the hot path
  // (see LazyDeadline; the rarer writes still use client_'s own timeout).
  LazyDeadline<Connection> request_deadline_;
  LazyDeadline<Connection> idle_deadline_;
  LazyDeadline<Connection> write_deadline_;
  // Latency and fault pauses (Deliver); Cancel() cancels it.
  boost::asio::steady_timer delivery_timer_;
  bool timed_out_ = false;
  // The client negotiated h2 (ALPN) or sent the h2c preface: HandleOne
  // stops and Run hands the connection to ServeHttp2.
  bool h2_next_ = false;
  bool idle_ = true;
  bool closing_ = false;
};

template <class F>
auto Connection::OnClient(F&& f) {
  if (client_tls_.has_value()) return f(*client_tls_);
  return f(client_);
}

}  // namespace matgto::proxy
