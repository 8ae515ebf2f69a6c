// The upstream side of one client connection: a cached keep-alive connection
// (plain or TLS, verified) and the exchange of one request for a response.
// Lives on its client connection's strand; no locking.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <optional>
#include <string>
#include <variant>

#include "server/core/http.h"
#include "server/core/spool.h"
#include "server/core/url.h"
#include "server/proxy/config.h"
#include "server/proxy/lazy_deadline.h"
#include "server/proxy/ready_read.h"
#include "server/proxy/response_parser.h"
#include "server/proxy/wire.h"
#include "server/tls/contexts.h"

namespace matgto::proxy {

struct FetchOutcome {
  // Set on success; otherwise the error_* fields say what the client gets.
  // A streamed response (relayed) has its pieces in response->chunks.
  std::optional<core::HttpResponse> response;
  // The response went to the client as it arrived (ResponseRelay): nothing
  // is left to write. With an error, the client got part of it: its
  // connection must close.
  bool relayed = false;
  // The client went away while the response was relayed.
  bool client_gone = false;
  // A relayed response came whole: ResponseRelay::End had it (and the
  // client then got the end of the body, unless client_gone).
  bool ended = false;
  // Set when a relayed body was too large to keep (--max-body-bytes is
  // the most matgto stores): the client got it all, nothing was recorded.
  std::string not_stored;
  core::ExchangeTiming timing;
  int error_status = 0;
  std::string error_code;
  std::string error_message;
};

// The client side of a response relayed as it arrives (Server-Sent Events,
// a chunked body): Fetch hands it the status and headers, then each piece
// of the body as it is read. Each returns false when the client is gone.
class ResponseRelay {
 public:
  virtual ~ResponseRelay() = default;
  virtual boost::asio::awaitable<bool> Head(const core::HttpResponse& head) = 0;
  virtual boost::asio::awaitable<bool> Piece(std::string_view bytes) = 0;
  // The whole response, once every piece but the last was relayed. `last`
  // is the last piece (possibly empty), held back so that the relay
  // records the exchange before it writes the end of the body: a client
  // that stops the recording as soon as it has its response finds the
  // exchange in the cassette. `whole` is null when the body was not kept
  // (too large to store, or not asked for).
  virtual boost::asio::awaitable<bool> End(const core::HttpResponse* whole,
                                           const core::ExchangeTiming& timing,
                                           std::string_view last) = 0;
  // Whether the body is kept while it is relayed (to be recorded).
  virtual bool KeepBody() const { return true; }
  // Where a kept body goes once it outgrows core::kSpoolBodyBytes (null:
  // it stays in memory, up to --max-body-bytes).
  virtual core::BodySpooler* Spooler() const { return nullptr; }
};

// Whether a response is relayed as a stream (its pieces' timing recorded):
// an event stream (text/event-stream), or a chunked body (its length is
// unknown: it may be a stream).
bool IsStreamedResponse(std::string_view content_type, bool chunked);
// Bodies announced larger than this are relayed as they arrive too (no
// whole-body buffering on the client's path).
inline constexpr uint64_t kRelayBodyBytes = 1024 * 1024;

// An event stream cut short (the client went away): its body and pieces
// trimmed to the last complete event (ending in a blank line). Returns
// false when not one event is complete.
bool TrimToCompleteEvents(core::HttpResponse& response);

class UpstreamClient {
 public:
  // `tls` is used for https:// URLs (null: https upstreams are refused).
  UpstreamClient(boost::asio::any_io_executor executor,
                 const ProxyConfig& config, tls::UpstreamContext* tls,
                 bool verify_tls);
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Sends `request` to `url`'s origin (reusing the cached connection when it
  // goes to the same scheme://host:port) and reads the whole response. An
  // idempotent request that finds the kept-alive connection closed is sent
  // once more on a fresh one; a POST (or any non-idempotent method) is sent
  // on a reused connection only if it is still open, and never twice.
  // With `relay`, a streamed response (IsStreamedResponse) goes to it as it
  // arrives, and is also returned whole (with its pieces' timing).
  boost::asio::awaitable<FetchOutcome> Fetch(const core::HttpRequest& request,
                                             const core::UrlParts& url,
                                             ResponseRelay* relay = nullptr);
  // The same into `out` (replaced), which the caller keeps: a coroutine
  // frame holds no outcome then, and stays small enough for Asio to
  // recycle it (it reuses frames up to about 1 KiB; larger ones cost a
  // malloc and a free on every exchange).
  boost::asio::awaitable<void> FetchInto(const core::HttpRequest& request,
                                         const core::UrlParts& url,
                                         FetchOutcome& out,
                                         ResponseRelay* relay = nullptr);
  // For LazyDeadline: a reference that expires with this client.
  std::weak_ptr<UpstreamClient> weak_from_this() const { return alive_; }

  // Closes and forgets the cached connection. Only between exchanges.
  void Close();
  // Closes the cached connection's socket without destroying it, so that
  // an exchange in flight (a Fetch suspended on it) completes with
  // operation_aborted. Called on the connection's strand.
  void Cancel();

  // A fresh connection to `url`'s origin (TLS for https/wss, verified), for
  // a protocol other than HTTP/1.1 exchanges (WebSocket, HTTP/2). On
  // failure `out` says what the client gets. `offer_h2`: the TLS handshake
  // offers ALPN h2 before http/1.1 (the caller reads what was chosen).
  using RawConnection =
      std::variant<boost::beast::tcp_stream,
                   boost::asio::ssl::stream<boost::beast::tcp_stream>>;
  boost::asio::awaitable<std::optional<RawConnection>> TakeConnection(
      const core::UrlParts& url, FetchOutcome& out, bool offer_h2 = false);

 private:
  boost::asio::awaitable<bool> Connect(const core::UrlParts& url,
                                       FetchOutcome& out,
                                       bool offer_h2 = false);
  template <class Stream>
  boost::asio::awaitable<void> Exchange(Stream& stream,
                                        const core::HttpRequest& request,
                                        const core::UrlParts& url, bool reused,
                                        bool& retry, ResponseRelay* relay,
                                        FetchOutcome& out);
  // The body of a streamed or large response, passed to `relay` as it
  // arrives (see Fetch). True when `out` is complete; false when the
  // upstream failed mid-body (`rec` says how).
  template <class Stream>
  boost::asio::awaitable<bool> RelayBody(
      Stream& stream, ResponseRelay& relay, bool streamed,
      const std::string& authority, absl::Time started, absl::Time first_byte,
      FetchOutcome& out, boost::beast::error_code& rec);

  // --upstream-timeout passed during an exchange: its socket is cancelled
  // and `timed_out_` says why (a 504).
  void OnTimeout();

  boost::asio::any_io_executor executor_;
  const ProxyConfig& config_;
  tls::UpstreamContext* tls_;
  const bool verify_tls_;
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::asio::ssl::stream<boost::beast::tcp_stream>> secure_;
  // Set by Cancel: no further upstream connection is made.
  bool cancelled_ = false;
  // The scheme, host and port of the cached connection (empty: none).
  struct Origin {
    std::string scheme;
    std::string host;
    uint16_t port = 0;
    bool Is(const core::UrlParts& url) const {
      return port == url.port && host == url.host && scheme == url.scheme;
    }
    void Set(const core::UrlParts& url) {
      scheme = url.scheme;
      host = url.host;
      port = url.port;
    }
    void Clear() { *this = Origin{}; }
  };
  Origin origin_;
  boost::beast::flat_buffer buffer_;
  // Reads the first bytes of each response (see ready_read.h).
  ReadyReader reader_;
  // The response of the exchange in flight being read.
  std::optional<ResponseParser> parser_;
  // Memory for the next response (see ResponseParser::Reuse): the
  // previous one, once its exchange is done.
  core::HttpResponse spare_;
  // The request line and header block being sent (reused: one exchange at
  // a time).
  std::string head_;
  // Owns nothing: its weak references (weak_from_this) expire when this
  // client is destroyed.
  std::shared_ptr<UpstreamClient> alive_{this, [](UpstreamClient*) {}};
  // --upstream-timeout of the exchange in flight, from its request's first
  // byte to its response's last (a relayed body instead has the stream's
  // own timeout between reads). Lazy: not a timer armed per exchange.
  LazyDeadline<UpstreamClient> deadline_{executor_, &UpstreamClient::OnTimeout};
  bool timed_out_ = false;
};

}  // namespace matgto::proxy
