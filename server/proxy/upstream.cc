#include "server/proxy/upstream.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <memory>
#include <tuple>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/proxy/buffered_parse.h"
#include "server/proxy/coro.h"
#include "server/proxy/kept_body.h"
#include "server/proxy/resolver.h"
#include "server/proxy/send_now.h"
#include "server/proxy/wire.h"
#include "server/tls/contexts.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Response headers from an upstream may be larger than a client's request.
constexpr uint32_t kMaxUpstreamHeaderBytes = 256 * 1024;
// The most one read of a response's header asks for (Beast's own figure).
constexpr size_t kReadBytes = 64 * 1024;
// The least it asks for: a usual response, header and body, in one read.
// (Beast's read_size starts an empty buffer at 512 bytes and never grows
// one that is big enough for that: a 1 KiB response took three reads,
// each with its own turn of the event loop.) The client side reads
// requests 16 KiB at a time too.
constexpr size_t kLeastReadBytes = 16 * 1024;

beast::tcp_stream& Lowest(beast::tcp_stream& s) { return s; }
beast::tcp_stream& Lowest(asio::ssl::stream<beast::tcp_stream>& s) {
  return s.next_layer();
}

// RFC 9110 9.2.2: only these may be sent again when a connection fails
// before the response; a POST may already have taken effect.
bool Idempotent(absl::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" ||
         method == "TRACE" || method == "PUT" || method == "DELETE";
}

// Whether a kept-alive connection is known to be unusable: the upstream
// closed it (EOF), reset it, or sent something unasked.
bool Stale(tcp::socket& socket) {
  beast::error_code ec;
  socket.non_blocking(true, ec);
  if (ec) return true;
  char byte = 0;
  socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
  const bool alive = ec == asio::error::would_block;
  socket.non_blocking(false, ec);
  return !alive;
}

bool PeerClosed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace

bool IsStreamedResponse(std::string_view content_type, bool chunked) {
  constexpr std::string_view kEvents = "text/event-stream";
  return chunked || (content_type.size() >= kEvents.size() &&
                     core::EqualsIgnoreCase(
                         absl::string_view(content_type.data(), kEvents.size()),
                         absl::string_view(kEvents.data(), kEvents.size())));
}

bool TrimToCompleteEvents(core::HttpResponse& response) {
  // Events end with a blank line: "\n\n" (or "\r\n\r\n").
  size_t end = response.body.rfind("\n\n");
  if (end == std::string::npos) return false;
  end += 2;
  response.body.resize(end);
  uint64_t covered = 0;
  std::vector<core::BodyChunk> kept;
  for (const core::BodyChunk& c : response.chunks) {
    if (covered >= end) break;
    kept.push_back(c);
    kept.back().size = std::min<uint64_t>(c.size, end - covered);
    covered += kept.back().size;
  }
  response.chunks = std::move(kept);
  return true;
}

UpstreamClient::UpstreamClient(asio::any_io_executor executor,
                               const ProxyConfig& config,
                               tls::UpstreamContext* tls, bool verify_tls)
    : executor_(std::move(executor)),
      config_(config),
      tls_(tls),
      verify_tls_(verify_tls) {}

void UpstreamClient::Close() {
  beast::error_code ignored;
  if (plain_.has_value()) {
    plain_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    plain_->socket().close(ignored);
    plain_.reset();
  }
  if (secure_.has_value()) {
    secure_->next_layer().socket().close(ignored);
    secure_.reset();
  }
  origin_.Clear();
  buffer_.clear();
}

void UpstreamClient::OnTimeout() {
  timed_out_ = true;
  beast::error_code ignored;
  if (plain_.has_value()) plain_->socket().cancel(ignored);
  if (secure_.has_value()) secure_->next_layer().socket().cancel(ignored);
}

void UpstreamClient::Cancel() {
  cancelled_ = true;
  beast::error_code ignored;
  if (plain_.has_value()) plain_->socket().close(ignored);
  if (secure_.has_value()) secure_->next_layer().socket().close(ignored);
}

asio::awaitable<bool> UpstreamClient::Connect(const core::UrlParts& url,
                                              FetchOutcome& out,
                                              bool offer_h2) {
  Close();
  const std::string authority = core::HostPort(url.host, url.port);
  const bool https = url.scheme == "https" || url.scheme == "wss";
  if (https && tls_ == nullptr) {
    out.error_status = 502;
    out.error_code = "upstream-tls-error";
    out.error_message = "matgto: no TLS context for https upstreams";
    co_return false;
  }
  ResolveOutcome resolved =
      co_await Resolve(executor_, url.host, url.port, config_.dns_timeout);
  if (!resolved.error_code.empty()) {
    out.error_status = resolved.status;
    out.error_code = std::move(resolved.error_code);
    out.error_message = std::move(resolved.message);
    co_return false;
  }
  if (cancelled_) {
    out.error_status = 503;
    out.error_code = "cancelled";
    out.error_message = "matgto: the exchange was cancelled";
    co_return false;
  }
  const tcp::resolver::results_type& endpoints = resolved.endpoints;
  beast::tcp_stream stream(executor_);
  stream.expires_after(Chrono(config_.upstream_connect_timeout));
  auto [cec, ep] = co_await stream.async_connect(endpoints, kAwait);
  if (cec) {
    out.error_status = 502;
    out.error_code = "upstream-unreachable";
    out.error_message = absl::StrCat(
        "matgto: cannot connect to ", authority, ": ",
        cec == beast::error::timeout ? "connection timed out" : cec.message());
    co_return false;
  }
  beast::error_code ignored;
  stream.socket().set_option(tcp::no_delay(true), ignored);
  if (!https) {
    plain_.emplace(std::move(stream));
  } else {
    absl::StatusOr<asio::ssl::context*> context = tls_->Get();
    if (!context.ok()) {
      out.error_status = 502;
      out.error_code = "upstream-tls-error";
      out.error_message = absl::StrCat("matgto: ", context.status().message());
      co_return false;
    }
    secure_.emplace(std::move(stream), **context);
    absl::Status st = tls::PrepareUpstreamSsl(secure_->native_handle(),
                                              url.host, verify_tls_);
    if (!st.ok()) {
      out.error_status = 502;
      out.error_code = "upstream-tls-error";
      out.error_message = absl::StrCat("matgto: ", st.message());
      Close();
      co_return false;
    }
    if (offer_h2) {
      static const unsigned char kH2Http11[] = {2,   'h', '2', 8,   'h', 't',
                                                't', 'p', '/', '1', '.', '1'};
      SSL_set_alpn_protos(secure_->native_handle(), kH2Http11,
                          sizeof kH2Http11);
    }
    secure_->next_layer().expires_after(
        Chrono(config_.upstream_connect_timeout));
    auto [hec] = co_await secure_->async_handshake(
        asio::ssl::stream_base::client, kAwait);
    if (hec) {
      out.error_status = 502;
      out.error_code = "upstream-tls-error";
      out.error_message = absl::StrCat(
          "matgto: TLS handshake with ", authority, " failed: ",
          tls::HandshakeFailureReason(
              secure_->native_handle(),
              hec == beast::error::timeout ? "timed out" : hec.message()));
      Close();
      co_return false;
    }
  }
  origin_.Set(url);
  co_return true;
}

asio::awaitable<std::optional<UpstreamClient::RawConnection>>
UpstreamClient::TakeConnection(const core::UrlParts& url, FetchOutcome& out,
                               bool offer_h2) {
  if (cancelled_) {
    out.error_status = 503;
    out.error_code = "cancelled";
    out.error_message = "matgto: the exchange was cancelled";
    co_return std::nullopt;
  }
  if (!co_await Connect(url, out, offer_h2)) co_return std::nullopt;
  std::optional<RawConnection> conn;
  if (secure_.has_value()) {
    conn.emplace(std::in_place_index<1>, std::move(*secure_));
  } else {
    conn.emplace(std::in_place_index<0>, std::move(*plain_));
  }
  plain_.reset();
  secure_.reset();
  origin_.Clear();
  buffer_.clear();
  co_return conn;
}

asio::awaitable<FetchOutcome> UpstreamClient::Fetch(
    const core::HttpRequest& request, const core::UrlParts& url,
    ResponseRelay* relay) {
  FetchOutcome out;
  co_await FetchInto(request, url, out, relay);
  co_return out;
}

asio::awaitable<void> UpstreamClient::FetchInto(
    const core::HttpRequest& request, const core::UrlParts& url,
    FetchOutcome& out, ResponseRelay* relay) {
  // The response of the caller's previous exchange is done with: its
  // memory is where this one is parsed (see ResponseParser::Reuse).
  if (out.response.has_value()) spare_ = std::move(*out.response);
  for (int attempt = 0; attempt < 2; ++attempt) {
    out = FetchOutcome{};
    if (cancelled_) {
      // The connection was cancelled (its session ended): never (re)connect.
      out.error_status = 503;
      out.error_code = "cancelled";
      out.error_message =
          "matgto: the exchange was cancelled (its session "
          "ended or the server is shutting down)";
      co_return;
    }
    bool reused =
        origin_.Is(url) && (plain_.has_value() || secure_.has_value());
    // A request that must not be sent twice only goes on a kept-alive
    // connection that is still open, and is never retried.
    const bool idempotent = Idempotent(request.method);
    if (reused && !idempotent &&
        Stale(plain_.has_value() ? plain_->socket()
                                 : secure_->next_layer().socket())) {
      Close();
      reused = false;
    }
    if (!reused) {
      // (Not in one condition: GCC 12 can miscompile a co_await inside
      // && or ||.)
      const bool connected = co_await Connect(url, out);
      if (!connected) co_return;
    }
    bool retry = false;
    if (secure_.has_value()) {
      co_await Exchange(*secure_, request, url, reused && idempotent, retry,
                        relay, out);
    } else {
      co_await Exchange(*plain_, request, url, reused && idempotent, retry,
                        relay, out);
    }
    if (!retry) co_return;
  }
  out = FetchOutcome{};
  out.error_status = 502;
  out.error_code = "upstream-unreachable";
  out.error_message = absl::StrCat("matgto: ", url.scheme, "://",
                                   core::HostPort(url.host, url.port),
                                   " closed the connection");
}

template <class Stream>
asio::awaitable<void> UpstreamClient::Exchange(
    Stream& stream, const core::HttpRequest& request, const core::UrlParts& url,
    bool reused, bool& retry, ResponseRelay* relay, FetchOutcome& out) {
  // "host:port", for what the client is told when something fails (not
  // built for an exchange that goes well).
  auto authority = [&url] { return core::HostPort(url.host, url.port); };
  const absl::Time started = absl::Now();
  out.timing.started_at = started;
  Lowest(stream).expires_never();  // (a relay may have left one set)
  timed_out_ = false;
  deadline_.Set(*this, Chrono(config_.upstream_timeout));
  absl::Cleanup clear_deadline = [this] { deadline_.Clear(); };
  // Re-framed with a Content-Length (see ToUpstream): the header block and
  // the body in one gather write.
  UpstreamHeadTo(request, url, head_);
  beast::buffers_suffix<std::array<asio::const_buffer, 2>> message(
      std::array<asio::const_buffer, 2>{asio::buffer(head_),
                                        asio::buffer(request.body)});
  beast::error_code wec;
  message.consume(SendNow(stream, message, wec));
  if (!wec && beast::buffer_bytes(message) != 0) {
    auto [aec, an] =
        co_await asio::async_write(Direct(stream), message, kAwait);
    wec = aec;
  }
  if (wec) {
    Close();
    // A kept-alive connection the upstream had closed: try a fresh one.
    if (reused) {
      retry = true;
      co_return;
    }
    const bool timeout = wec == beast::error::timeout || timed_out_;
    out.error_status = timeout ? 504 : 502;
    out.error_code = timeout ? "upstream-timeout" : "upstream-write-failed";
    out.error_message = absl::StrCat("matgto: sending the request to ",
                                     authority(), " failed: ", wec.message());
    co_return;
  }
  // The connection's (one exchange at a time), not this frame's: see
  // FetchInto.
  std::optional<ResponseParser>& parser = parser_;
  beast::error_code rec;
  for (bool interim = false;; interim = true) {
    // (After an interim response, the next one reuses its memory.)
    if (interim) spare_ = std::move(parser->response());
    parser.emplace();
    parser->Reuse(std::move(spare_));
    parser->header_limit(kMaxUpstreamHeaderBytes);
    // With a relay, a body larger than --max-body-bytes is still passed on
    // (the limit is then on what is kept); without, it is refused whole.
    if (relay != nullptr) {
      parser->body_limit(boost::none);
    } else {
      parser->body_limit(config_.max_body_bytes);
    }
    if (request.method == "HEAD") parser->skip(true);
    // What http::async_read_header does, without its two composed
    // operations' layers around each read: read, parse what the buffer
    // holds, until the header is whole.
    while ((rec = ParseBuffered(*parser, buffer_, ParseUntil::kHeader)) ==
           http::error::need_more) {
      const size_t room = std::min(
          std::max(kLeastReadBytes, buffer_.capacity() - buffer_.size()),
          std::min(kReadBytes, buffer_.max_size() - buffer_.size()));
      if (room == 0) {
        rec = http::error::buffer_overflow;
        break;
      }
      // (Into an empty buffer: a whole response, the usual case, waits for
      // readiness before the next one's read; see ready_read.h. Not in a
      // conditional expression: see FetchInto on GCC 12 and co_await.)
      std::tuple<beast::error_code, size_t> got;
      if (buffer_.size() == 0) {
        got = co_await reader_.ReadResponse(Direct(stream),
                                            buffer_.prepare(room), kAwait);
      } else {
        got = co_await Direct(stream).async_read_some(buffer_.prepare(room),
                                                      kAwait);
      }
      auto [ec, n] = got;
      buffer_.commit(n);
      if (ec == asio::error::eof) {
        rec = {};
        if (parser->got_some()) {
          parser->put_eof(rec);  // a header cut short: partial_message
        } else {
          rec = http::error::end_of_stream;
        }
        break;
      }
      rec = ec;
      if (rec) break;
    }
    if (rec) break;
    const int status = parser->response().status;
    // Interim responses (100 Continue, 103 Early Hints) are consumed here.
    if (status < 100 || status >= 200 || status == 101) break;
  }
  if (rec && reused && !parser->got_some() && PeerClosed(rec)) {
    Close();
    retry = true;
    co_return;
  }
  const absl::Time first_byte = absl::Now();
  const bool streamed =
      !rec && IsStreamedResponse(
                  [&] {
                    const std::string* type = core::FindHeader(
                        parser->response().headers, "Content-Type");
                    return type == nullptr ? std::string_view()
                                           : std::string_view(*type);
                  }(),
                  parser->chunked());
  const bool large =
      !rec && parser->content_length().has_value() &&
      *parser->content_length() >
          std::min<uint64_t>(kRelayBodyBytes, config_.max_body_bytes);
  if (!rec && !parser->is_done() && relay != nullptr && (streamed || large)) {
    // (In a coroutine of its own: its state would otherwise make every
    // exchange's frame too large for Asio to recycle.)
    const std::string relayed_from = authority();
    if (co_await RelayBody(stream, *relay, streamed, relayed_from, started,
                           first_byte, out, rec)) {
      co_return;
    }
  } else if (!rec && !parser->is_done()) {
    parser->body_limit(config_.max_body_bytes);  // see the header's
    // (A small body came with its header: parsed here, without a post.)
    rec = ParseBuffered(*parser, buffer_, ParseUntil::kMessage);
    if (rec == http::error::need_more) {
      auto [bec, bn] =
          co_await http::async_read(stream, buffer_, *parser, kAwait);
      rec = bec;
    }
  }
  if (rec) {
    Close();
    if (rec == beast::error::timeout || timed_out_) {
      out.error_status = 504;
      out.error_code = "upstream-timeout";
      out.error_message =
          absl::StrCat("matgto: ", authority(), " did not answer within ",
                       absl::FormatDuration(config_.upstream_timeout));
    } else if (rec == http::error::body_limit) {
      out.error_status = 502;
      out.error_code = "upstream-response-too-large";
      out.error_message =
          absl::StrCat("matgto: the response from ", authority(), " exceeds ",
                       config_.max_body_bytes, " bytes (--max-body-bytes)");
    } else {
      out.error_status = 502;
      out.error_code = "upstream-bad-response";
      out.error_message = absl::StrCat("matgto: reading the response from ",
                                       authority(), " failed: ", rec.message());
    }
    co_return;
  }
  out.timing.time_to_first_byte = first_byte - started;
  out.timing.total = absl::Now() - started;
  // (The parser's own reading of Connection and the version: the fields
  // need not be searched again.)
  if (!parser->keep_alive()) Close();
  out.response = std::move(parser->response());
  co_return;
}

template <class Stream>
asio::awaitable<bool> UpstreamClient::RelayBody(
    Stream& stream, ResponseRelay& relay, bool streamed,
    const std::string& authority, absl::Time started, absl::Time first_byte,
    FetchOutcome& out, beast::error_code& rec) {
  // Relayed as it arrives, read by read (the upstream's timeout applies
  // between reads, not to the whole body). The body is kept to be
  // recorded (in a spool file once large) up to the limit on what is
  // stored; beyond, it is only passed on.
  deadline_.Clear();  // each read has the stream's own timeout instead
  std::vector<core::BodyChunk> chunks;
  out.relayed = true;
  // (The header only: the parser has not read any of the body yet.)
  ResponseParser& body = *parser_;
  core::HttpResponse whole = std::move(body.response());
  KeptBody kept(config_, relay.KeepBody(), relay.Spooler());
  bool client = co_await relay.Head(whole);
  body.body_limit(boost::none);
  // On the heap, for this relay only: on the coroutine's frame, every
  // exchange would carry it.
  const auto piece_storage = std::make_unique<std::array<char, 128 * 1024>>();
  std::array<char, 128 * 1024>& piece = *piece_storage;
  // A read takes what fits in the buffer's free capacity (a few KiB after
  // the header): room for a piece makes each read up to 64 KiB, not 2.
  buffer_.reserve(piece.size());
  std::string_view last;
  while (client && !body.is_done()) {
    body.BodyInto(piece.data(), piece.size());
    Lowest(stream).expires_after(Chrono(config_.upstream_timeout));
    auto [bec, bn] =
        co_await http::async_read_some(stream, buffer_, body, kAwait);
    if (bec && bec != http::error::need_buffer) {
      rec = bec;
      break;
    }
    const size_t got = piece.size() - body.BodyLeft();
    if (got == 0) continue;
    if (streamed && kept.keeping()) {
      chunks.push_back({got, absl::Now() - first_byte});
    }
    out.timing.relayed_bytes += got;
    kept.Add(std::string_view(piece.data(), got), whole, authority);
    if (!kept.keeping()) chunks.clear();
    if (body.is_done()) {
      last = std::string_view(piece.data(), got);  // End writes it
      break;
    }
    client = co_await relay.Piece(std::string_view(piece.data(), got));
  }
  buffer_.shrink_to_fit();  // what was left unread stays
  out.timing.time_to_first_byte = first_byte - started;
  out.timing.total = absl::Now() - started;
  if (!client) {
    // The client went away: what arrived so far is returned (the caller
    // decides whether it is worth keeping); the upstream connection is
    // dropped mid-body.
    Close();
    out.client_gone = true;
    if (kept.keeping()) {
      kept.Finish(whole);
      whole.chunks = std::move(chunks);
      out.response = std::move(whole);
    }
    co_return true;
  }
  if (!rec) {
    if (!body.keep_alive()) Close();
    kept.Finish(whole);
    if (!kept.keeping()) chunks.clear();
    whole.chunks = std::move(chunks);
    out.response = std::move(whole);
    out.ended = true;
    const bool stored = kept.keeping();
    out.not_stored = kept.NotStored();
    out.client_gone = !co_await relay.End(stored ? &*out.response : nullptr,
                                          out.timing, last);
    co_return true;
  }
  co_return false;
}

}  // namespace matgto::proxy
