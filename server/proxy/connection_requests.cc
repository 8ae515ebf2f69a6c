// Connection's HTTP/1.1 requests, one at a time (HandleOne): the header
// and the body, read under --request-timeout and the size limits; the
// session the proxy credential names; the request's absolute URL; then the
// exchange with the handler (a reply, or a forward whose response is
// relayed to the client as it arrives). The connection itself (TLS,
// CONNECT, HTTP/2) is connection.cc.
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/proxy/buffered_parse.h"
#include "server/proxy/connection.h"
#include "server/proxy/coro.h"
#include "server/proxy/h2.h"
#include "server/proxy/proxy_server.h"
#include "server/proxy/send_now.h"
#include "server/proxy/upstream.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

bool ClientWentAway(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset ||
         ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor ||
         ec == asio::ssl::error::stream_truncated;
}

// Observes the time from a request read to the end of its exchange (the
// response written, or the connection given up) when it goes out of scope.
class RequestTimer {
 public:
  explicit RequestTimer(observe::ProxyMetrics* metrics)
      : metrics_(metrics), start_(absl::Now()) {}
  ~RequestTimer() {
    if (metrics_ != nullptr) {
      metrics_->request_duration.ObserveDuration(absl::Now() - start_);
    }
  }
  RequestTimer(const RequestTimer&) = delete;
  RequestTimer& operator=(const RequestTimer&) = delete;

 private:
  observe::ProxyMetrics* const metrics_;
  const absl::Time start_;
};

}  // namespace

void Connection::StartRequestDeadline() {
  timed_out_ = false;
  // The stream's own timer would close the socket on expiry; the 408 must
  // be written first, so this deadline only cancels the pending read.
  client_.expires_never();
  request_deadline_.Set(*this, Chrono(config_.request_timeout));
}

void Connection::StopRequestDeadline() { request_deadline_.Clear(); }

void Connection::OnRequestTimeout() {
  timed_out_ = true;
  beast::error_code ignored;
  client_.socket().cancel(ignored);
}

void Connection::OnIdleTimeout() {
  beast::error_code ignored;
  client_.socket().cancel(ignored);
}

void Connection::OnWriteTimeout() {
  beast::error_code ignored;
  client_.socket().cancel(ignored);
}

// One request on the connection, in named steps: its header (ReadHeader),
// a CONNECT or its body (ReadBody), its absolute URL (TargetUrl), then a
// WebSocket upgrade or an exchange with the session (Exchange). False when
// the connection must close.
asio::awaitable<bool> Connection::HandleOne() {
  if (h2_next_) co_return false;
  RequestParser parser(std::piecewise_construct, std::make_tuple(),
                       std::make_tuple(arena_.Reset()));
  parser.header_limit(config_.max_header_bytes);
  parser.body_limit(config_.max_body_bytes);
  if (!co_await ReadHeader(parser)) co_return false;

  const int version = parser.get().version();
  // A credential names the session (on the shared port); inside a tunnel,
  // requests inherit the CONNECT's.
  if (auto it = parser.get().find(http::field::proxy_authorization);
      it != parser.get().end()) {
    route_.credential = ProxyCredential(
        absl::string_view(it->value().data(), it->value().size()));
  } else {
    route_.credential = tunnel_credential_;
  }
  if (parser.get().method() == http::verb::connect) {
    StopRequestDeadline();
    tunnel_credential_ = route_.credential;
    if (!ClaimForCredential()) {
      co_await RefuseForCredential(version);
      co_return false;
    }
    co_return co_await HandleConnect(std::string(parser.get().target()),
                                     version);
  }
  if (parser.is_done()) {
    // No body (most requests): no coroutine to call for it.
    StopRequestDeadline();
  } else if (!co_await ReadBody(parser, version)) {
    co_return false;
  }
  if (!ClaimForCredential()) {
    co_await RefuseForCredential(version);
    co_return false;
  }

  ClientRequest& request = parser.get();
  const bool keep_alive = request.keep_alive() && !closing_;
  // (A plain function: a refusal is written here, so that the common case
  // costs no coroutine frame of its own.)
  std::variant<RequestTarget, RequestRefusal> target = TargetUrl(request);
  if (auto* refusal = std::get_if<RequestRefusal>(&target)) {
    co_return co_await WriteError(refusal->status, refusal->code,
                                  std::move(refusal->message), version,
                                  keep_alive) &&
        keep_alive;
  }
  RequestTarget* to = &std::get<RequestTarget>(target);
  if (beast::websocket::is_upgrade(request)) {
    if (to->host_from_url) request.set(http::field::host, HostFor(to->url));
    // Recorded as ws:// or wss:// however the client spelled the URL.
    if (to->url.scheme == "http") to->url.scheme = "ws";
    if (to->url.scheme == "https") to->url.scheme = "wss";
    co_await HandleUpgrade(request, to->url);
    co_return false;
  }
  co_return co_await Exchange(std::move(request), *to, version, keep_alive) &&
      keep_alive;
}

bool Connection::ClaimForCredential() {
  // Only the shared port routes by credential; a session's own port counts
  // its connections itself.
  if (route_.listener != 0 || route_.credential.empty() ||
      route_.credential == claimed_credential_) {
    return true;
  }
  if (!server_->Claim(id_, route_.credential)) return false;
  claimed_credential_ = route_.credential;
  return true;
}

asio::awaitable<void> Connection::RefuseForCredential(int version) {
  co_await WriteError(
      503, "too-many-connections",
      absl::StrCat("matgto: the session of this proxy credential already has ",
                   config_.max_connections,
                   " open connections (--max-connections); close some or "
                   "try again later"),
      version, /*keep_alive=*/false);
}

asio::awaitable<bool> Connection::ReadHeader(RequestParser& parser) {
  // Waiting for the first byte of a request is being idle (--idle-timeout;
  // a connection that sent nothing is just closed). From that byte on, the
  // whole request must arrive within --request-timeout, or it gets a 408.
  if (buffer_.size() == 0) {
    idle_ = true;
    client_.expires_never();
    idle_deadline_.Set(*this, Chrono(config_.idle_timeout));
    auto [ec, n] = co_await OnClient([&](auto& s) {
      return reader_.ReadSome(Direct(s), buffer_.prepare(16 * 1024), kAwait);
    });
    idle_deadline_.Clear();
    idle_ = false;
    if (ec) co_return false;
    buffer_.commit(n);
  }
  if (closing_) co_return false;
  if (config_.http2 &&
      LooksLikeH2Preface(absl::string_view(
          static_cast<const char*>(buffer_.data().data()), buffer_.size()))) {
    h2_next_ = true;
    co_return false;
  }
  StartRequestDeadline();
  // (Most requests are whole in the buffer: parsed here, without a post.)
  beast::error_code ec = ParseBuffered(parser, buffer_, ParseUntil::kHeader);
  if (ec == http::error::need_more) {
    auto [rec, n] = co_await OnClient([&](auto& s) {
      return http::async_read_header(s, buffer_, parser, kAwait);
    });
    ec = rec;
  }
  std::optional<RequestRefusal> refusal;
  if (ec) {
    StopRequestDeadline();
    if (!timed_out_ && ClientWentAway(ec)) co_return false;
    refusal = HeaderReadRefusal(ec);
  } else if ((refusal = CheckRequestHeader(parser.get()))) {
    // Framing is checked before any of the body is read: a body whose
    // length cannot be known is never forwarded.
    StopRequestDeadline();
  }
  if (refusal.has_value()) {
    // (One place that answers: each co_await would take room of its own in
    // this coroutine's frame, allocated for every request.)
    co_await WriteError(refusal->status, refusal->code,
                        std::move(refusal->message),
                        ec ? 11 : parser.get().version(), false);
    co_return false;
  }
  co_return true;
}

RequestRefusal Connection::HeaderReadRefusal(
    const beast::error_code& ec) const {
  if (timed_out_) {
    return {408, "request-timeout",
            absl::StrCat("matgto: the request headers did not arrive within ",
                         absl::FormatDuration(config_.request_timeout),
                         " (--request-timeout)")};
  }
  if (ec == http::error::header_limit) {
    return {
        431, "header-too-large",
        absl::StrCat("matgto: request line and headers exceed ",
                     config_.max_header_bytes, " bytes (--max-header-bytes)")};
  }
  if (ec == http::error::body_limit) {  // a Content-Length over the limit
    return {413, "body-too-large",
            absl::StrCat("matgto: request body exceeds ",
                         config_.max_body_bytes, " bytes (--max-body-bytes)")};
  }
  return {400, "bad-request",
          absl::StrCat("matgto: malformed HTTP request: ", ec.message())};
}

asio::awaitable<bool> Connection::ReadBody(RequestParser& parser, int version) {
  if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    http::response<http::empty_body> go_on{http::status::continue_, version};
    client_.expires_after(Chrono(config_.write_timeout));
    auto [wec, wn] = co_await OnClient(
        [&](auto& s) { return http::async_write(s, go_on, kAwait); });
    client_.expires_never();
    if (wec) {
      StopRequestDeadline();
      co_return false;
    }
  }
  beast::error_code bec = ParseBuffered(parser, buffer_, ParseUntil::kMessage);
  if (bec == http::error::need_more) {
    auto [rec, n] = co_await OnClient(
        [&](auto& s) { return http::async_read(s, buffer_, parser, kAwait); });
    bec = rec;
  }
  StopRequestDeadline();
  if (!bec) co_return true;
  if (timed_out_) {
    co_await WriteError(
        408, "request-timeout",
        absl::StrCat("matgto: the request body did not arrive within ",
                     absl::FormatDuration(config_.request_timeout),
                     " (--request-timeout)"),
        version, false);
    co_return false;
  }
  if (bec == http::error::body_limit) {
    co_await WriteError(
        413, "body-too-large",
        absl::StrCat("matgto: request body exceeds ", config_.max_body_bytes,
                     " bytes (--max-body-bytes)"),
        version, false);
    co_return false;
  }
  // The client hung up mid-body (or sent broken framing): nothing is
  // forwarded or recorded.
  if (ClientWentAway(bec) || bec == http::error::partial_message) {
    co_return false;
  }
  co_await WriteError(
      400, "bad-request",
      absl::StrCat("matgto: malformed request body: ", bec.message()), version,
      false);
  co_return false;
}

std::variant<Connection::RequestTarget, RequestRefusal> Connection::TargetUrl(
    const ClientRequest& request) {
  const absl::string_view target(request.target().data(),
                                 request.target().size());
  if (const std::string scheme = TargetScheme(target);
      !scheme.empty() && core::DefaultPort(scheme) == 0) {
    return RequestRefusal{
        501, "scheme-unsupported",
        absl::StrCat("matgto: requests for '", scheme,
                     "://' URLs are not supported (http, https, ws and wss "
                     "are)")};
  }
  const bool origin_form = !target.empty() && target.front() == '/';
  absl::StatusOr<core::UrlParts> url;
  if (origin_form && origin_.has_value()) {
    // Origin-form inside a tunnel or in reverse mode.
    url = core::ParseAbsoluteUrl(
        absl::StrCat(origin_->scheme, "://",
                     core::HostPort(origin_->host, origin_->port), target));
  } else {
    url = core::ParseAbsoluteUrl(target);
  }
  if (!url.ok()) {
    return RequestRefusal{
        400, "not-a-proxy-request",
        origin_form
            ? absl::StrCat("matgto is a forward proxy and got the origin-form "
                           "target '",
                           target,
                           "'; send absolute-form requests, e.g. curl --proxy "
                           "http://ADDRESS http://host/path")
            : absl::StrCat("matgto: ", url.status().message())};
  }
  if (url->scheme != "http" && url->scheme != "https" &&
      !beast::websocket::is_upgrade(request)) {
    return RequestRefusal{
        501, "scheme-unsupported",
        absl::StrCat("matgto: requests for '", url->scheme,
                     "://' URLs are not supported by this build")};
  }
  // The authority of an absolute-form target wins over the Host header
  // (RFC 9112 3.2.2), in what is forwarded and in what is recorded; in
  // reverse mode the upstream expects its own name, not the proxy's.
  const bool reverse = config_.reverse_upstream.has_value() &&
                       origin_.has_value() &&
                       origin_->host == config_.reverse_upstream->host;
  // (Set in the core request, ToCore: no Beast field made only to be
  // copied.)
  return RequestTarget{*std::move(url), !origin_form || reverse};
}

asio::awaitable<bool> Connection::Exchange(ClientRequest&& request,
                                           const RequestTarget& target,
                                           int version, bool keep_alive) {
  const core::UrlParts& url = target.url;
  const bool head = request.method() == http::verb::head;
  const RequestTimer timer(config_.metrics);
  core::HttpRequest& exchange = exchange_;
  ToCore(std::move(request), url, target.host_from_url, exchange);
  core::Decision decision = handler_.OnRequest(route_, exchange);
  if (const auto* reply = std::get_if<core::Reply>(&decision)) {
    co_return co_await WriteReply(*reply, head, version, keep_alive);
  }
  const core::Forward ticket = std::get<core::Forward>(decision);
  // An HTTP/1.1 client gets a streamed response as it arrives.
  ClientRelay relay(*this, keep_alive, ticket, exchange);
  // (Not when a fault shapes the delivery: the whole response is then
  // paced or broken as the fault says.)
  FetchOutcome& outcome = outcome_;
  co_await upstream_.FetchInto(
      exchange, url, outcome,
      version == 11 && !head && ticket.delivery.Immediate() ? &relay : nullptr);
  if (outcome.ended) {
    // Recorded by the relay, unless the body was too large to keep (or
    // not asked for: passed through).
    if (!outcome.not_stored.empty()) {
      handler_.OnNotStored(ticket, exchange, outcome.not_stored);
    } else if (!ticket.store) {
      handler_.OnForwarded(ticket, exchange, *outcome.response, outcome.timing);
    }
    co_return !outcome.client_gone;
  }
  if (outcome.relayed) {
    // The client has what it got: it is recorded after the fact. A client
    // that left an event stream keeps its complete events; any other
    // stream cut short is not recorded.
    if (outcome.client_gone) {
      const std::string* type =
          outcome.response.has_value()
              ? core::FindHeader(outcome.response->headers, "Content-Type")
              : nullptr;
      if (type != nullptr && IsStreamedResponse(*type, false) &&
          TrimToCompleteEvents(*outcome.response)) {
        handler_.OnForwarded(ticket, exchange, *outcome.response,
                             outcome.timing);
      } else {
        handler_.OnForwardFailed(ticket, exchange, "client-closed");
      }
      co_return false;
    }
    // The upstream failed mid-body: the client's chunked body stays
    // unterminated, and the connection closes.
    handler_.OnForwardFailed(ticket, exchange, outcome.error_code);
    co_return false;
  }
  if (!outcome.response.has_value()) {
    handler_.OnForwardFailed(ticket, exchange, outcome.error_code);
    co_return co_await WriteError(outcome.error_status, outcome.error_code,
                                  std::move(outcome.error_message), version,
                                  keep_alive);
  }
  handler_.OnForwarded(ticket, exchange, *outcome.response, outcome.timing);
  co_return co_await Write(*outcome.response, head, version, keep_alive,
                           "upstream-bad-response", ticket.delivery);
}

}  // namespace matgto::proxy
