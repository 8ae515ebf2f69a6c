#include "server/proxy/connection.h"

#include <chrono>
#include <cstdio>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/proxy/proxy_server.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Response headers from an upstream may be larger than a client's request.
constexpr uint32_t kMaxUpstreamHeaderBytes = 256 * 1024;

std::chrono::milliseconds Chrono(absl::Duration d) {
  return absl::ToChronoMilliseconds(d);
}

bool ClientWentAway(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset ||
         ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor;
}

}  // namespace

struct Connection::Outcome {
  std::optional<core::HttpResponse> response;
  core::ExchangeTiming timing;
  int error_status = 0;
  std::string error_code;
  std::string error_message;
};

Connection::Connection(uint64_t id, tcp::socket socket,
                       const ProxyConfig& config,
                       core::ExchangeHandler& handler, ProxyServer& server)
    : id_(id),
      config_(config),
      handler_(handler),
      server_(server),
      client_(std::move(socket)) {}

void Connection::Start() {
  asio::co_spawn(client_.get_executor(), Run(), [](std::exception_ptr e) {
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

void Connection::CloseUpstream() {
  if (upstream_.has_value()) {
    beast::error_code ignored;
    upstream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    upstream_->socket().close(ignored);
    upstream_.reset();
  }
  upstream_key_.clear();
  upstream_buffer_.clear();
}

asio::awaitable<void> Connection::Run() {
  auto self = shared_from_this();
  while (!closing_) {
    if (!co_await HandleOne()) break;
  }
  beast::error_code ignored;
  client_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  client_.socket().close(ignored);
  CloseUpstream();
  server_.Unregister(id_);
}

asio::awaitable<bool> Connection::HandleOne() {
  http::request_parser<http::string_body> parser;
  parser.header_limit(config_.max_header_bytes);
  parser.body_limit(config_.max_body_bytes);

  idle_ = true;
  client_.expires_after(Chrono(config_.idle_timeout));
  auto [ec, n] = co_await http::async_read_header(client_, buffer_, parser, kAwait);
  idle_ = false;
  if (ec) {
    if (ClientWentAway(ec)) co_return false;
    if (ec == beast::error::timeout) {
      // A connection that sent nothing is just closed; a half-sent request
      // gets a status.
      if (!parser.got_some()) co_return false;
      co_await WriteError(408, "request-timeout",
                          "matgto: the request headers did not arrive in time",
                          11, false);
      co_return false;
    }
    if (ec == http::error::header_limit) {
      co_await WriteError(431, "header-too-large",
                          absl::StrCat("matgto: request line and headers exceed ",
                                       config_.max_header_bytes,
                                       " bytes (--max-header-bytes)"),
                          11, false);
      co_return false;
    }
    co_await WriteError(400, "bad-request",
                        absl::StrCat("matgto: malformed HTTP request: ",
                                     ec.message()),
                        11, false);
    co_return false;
  }

  const int version = parser.get().version();
  if (parser.get().method() == http::verb::connect) {
    co_await WriteError(
        501, "connect-unsupported",
        "matgto: CONNECT (HTTPS through the proxy) is not supported by this "
        "build yet; use plain http:// URLs",
        version, false);
    co_return false;
  }

  if (!parser.is_done()) {
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, version};
      client_.expires_after(Chrono(config_.write_timeout));
      auto [wec, wn] = co_await http::async_write(client_, go_on, kAwait);
      if (wec) co_return false;
    }
    client_.expires_after(Chrono(config_.request_timeout));
    auto [bec, bn] = co_await http::async_read(client_, buffer_, parser, kAwait);
    if (bec) {
      if (bec == http::error::body_limit) {
        co_await WriteError(413, "body-too-large",
                            absl::StrCat("matgto: request body exceeds ",
                                         config_.max_body_bytes,
                                         " bytes (--max-body-bytes)"),
                            version, false);
        co_return false;
      }
      if (bec == beast::error::timeout) {
        co_await WriteError(408, "request-timeout",
                            "matgto: the request body did not arrive in time",
                            version, false);
        co_return false;
      }
      // The client hung up mid-body (or sent broken framing): nothing is
      // forwarded or recorded.
      if (ClientWentAway(bec) || bec == http::error::partial_message) {
        co_return false;
      }
      co_await WriteError(400, "bad-request",
                          absl::StrCat("matgto: malformed request body: ",
                                       bec.message()),
                          version, false);
      co_return false;
    }
  }

  ClientRequest& request = parser.get();
  const bool keep_alive = request.keep_alive() && !closing_;
  const bool head = request.method() == http::verb::head;
  std::string target(request.target());
  absl::StatusOr<core::UrlParts> url = core::ParseAbsoluteUrl(target);
  if (!url.ok()) {
    std::string message =
        !target.empty() && target.front() == '/'
            ? absl::StrCat("matgto is a forward proxy and got the origin-form "
                           "target '", target,
                           "'; send absolute-form requests, e.g. curl --proxy "
                           "http://ADDRESS http://host/path")
            : absl::StrCat("matgto: ", url.status().message());
    co_return co_await WriteError(400, "not-a-proxy-request", message, version,
                                  keep_alive) &&
        keep_alive;
  }
  if (url->scheme != "http") {
    co_return co_await WriteError(
        501, "scheme-unsupported",
        absl::StrCat("matgto: absolute-form requests for '", url->scheme,
                     "://' URLs are not supported by this build"),
        version, keep_alive) &&
        keep_alive;
  }

  core::HttpRequest exchange = ToCore(std::move(request), core::FormatUrl(*url));
  core::Decision decision = handler_.OnRequest(exchange);
  if (const auto* reply = std::get_if<core::Reply>(&decision)) {
    co_return co_await Write(*reply->response, head, version, keep_alive) &&
        keep_alive;
  }
  const core::Forward ticket = std::get<core::Forward>(decision);
  Outcome outcome = co_await Fetch(exchange, *url);
  if (!outcome.response.has_value()) {
    handler_.OnForwardFailed(ticket, exchange, outcome.error_code);
    co_return co_await WriteError(outcome.error_status, outcome.error_code,
                                  std::move(outcome.error_message), version,
                                  keep_alive) &&
        keep_alive;
  }
  handler_.OnForwarded(ticket, exchange, *outcome.response, outcome.timing);
  co_return co_await Write(*outcome.response, head, version, keep_alive) &&
      keep_alive;
}

asio::awaitable<bool> Connection::ConnectUpstream(const core::UrlParts& url,
                                                  std::string& error) {
  CloseUpstream();
  tcp::resolver resolver(client_.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(
      url.host, std::to_string(url.port), kAwait);
  if (rec) {
    error = absl::StrCat("cannot resolve ", url.host, ": ", rec.message());
    co_return false;
  }
  upstream_.emplace(client_.get_executor());
  upstream_->expires_after(Chrono(config_.upstream_connect_timeout));
  auto [cec, ep] = co_await upstream_->async_connect(endpoints, kAwait);
  if (cec) {
    error = absl::StrCat("cannot connect to ",
                         core::HostPort(url.host, url.port), ": ",
                         cec == beast::error::timeout ? "connection timed out"
                                                      : cec.message());
    CloseUpstream();
    co_return false;
  }
  beast::error_code ignored;
  upstream_->socket().set_option(tcp::no_delay(true), ignored);
  upstream_key_ = core::HostPort(url.host, url.port);
  co_return true;
}

asio::awaitable<Connection::Outcome> Connection::Fetch(
    const core::HttpRequest& request, const core::UrlParts& url) {
  Outcome out;
  const std::string key = core::HostPort(url.host, url.port);
  UpstreamRequest upstream_request = ToUpstream(request, url);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = upstream_.has_value() && upstream_key_ == key &&
                        upstream_->socket().is_open();
    if (!reused) {
      std::string error;
      if (!co_await ConnectUpstream(url, error)) {
        out.error_status = 502;
        out.error_code = "upstream-unreachable";
        out.error_message = absl::StrCat("matgto: ", error);
        co_return out;
      }
    }
    const absl::Time started = absl::Now();
    out.timing.started_at = started;
    upstream_->expires_after(Chrono(config_.upstream_timeout));
    auto [wec, wn] =
        co_await http::async_write(*upstream_, upstream_request, kAwait);
    if (wec) {
      CloseUpstream();
      if (reused) continue;  // a kept-alive connection the upstream closed
      out.error_status = wec == beast::error::timeout ? 504 : 502;
      out.error_code = wec == beast::error::timeout ? "upstream-timeout"
                                                    : "upstream-write-failed";
      out.error_message = absl::StrCat("matgto: sending the request to ", key,
                                       " failed: ", wec.message());
      co_return out;
    }
    std::optional<http::response_parser<http::string_body>> parser;
    beast::error_code rec;
    for (;;) {
      parser.emplace();
      parser->header_limit(kMaxUpstreamHeaderBytes);
      parser->body_limit(config_.max_body_bytes);
      if (request.method == "HEAD") parser->skip(true);
      auto [hec, hn] = co_await http::async_read_header(
          *upstream_, upstream_buffer_, *parser, kAwait);
      rec = hec;
      if (rec) break;
      const unsigned status = parser->get().result_int();
      // Interim responses (100 Continue, 103 Early Hints) are consumed here.
      if (status < 100 || status >= 200 || status == 101) break;
    }
    if (rec && reused && !parser->got_some() &&
        (rec == http::error::end_of_stream || rec == asio::error::eof ||
         rec == asio::error::connection_reset)) {
      CloseUpstream();
      continue;
    }
    const absl::Time first_byte = absl::Now();
    if (!rec && !parser->is_done()) {
      auto [bec, bn] = co_await http::async_read(*upstream_, upstream_buffer_,
                                                 *parser, kAwait);
      rec = bec;
    }
    if (rec) {
      CloseUpstream();
      if (rec == beast::error::timeout) {
        out.error_status = 504;
        out.error_code = "upstream-timeout";
        out.error_message = absl::StrCat(
            "matgto: ", key, " did not answer within ",
            absl::FormatDuration(config_.upstream_timeout));
      } else if (rec == http::error::body_limit) {
        out.error_status = 502;
        out.error_code = "upstream-response-too-large";
        out.error_message =
            absl::StrCat("matgto: the response from ", key, " exceeds ",
                         config_.max_body_bytes, " bytes (--max-body-bytes)");
      } else {
        out.error_status = 502;
        out.error_code = "upstream-bad-response";
        out.error_message = absl::StrCat("matgto: reading the response from ",
                                         key, " failed: ", rec.message());
      }
      co_return out;
    }
    out.timing.time_to_first_byte = first_byte - started;
    out.timing.total = absl::Now() - started;
    http::response<http::string_body> response = parser->release();
    if (!response.keep_alive()) CloseUpstream();
    out.response = ToCore(std::move(response));
    co_return out;
  }
  out.error_status = 502;
  out.error_code = "upstream-unreachable";
  out.error_message = absl::StrCat("matgto: ", key, " closed the connection");
  co_return out;
}

asio::awaitable<bool> Connection::Write(const core::HttpResponse& response,
                                        bool head_request, int version,
                                        bool keep_alive) {
  WireResponse message = ToWire(response, version, keep_alive);
  client_.expires_after(Chrono(config_.write_timeout));
  if (head_request || core::ResponseHasNoBody("", response.status)) {
    http::response_serializer<http::span_body<const char>> serializer(message);
    auto [ec, n] =
        co_await http::async_write_header(client_, serializer, kAwait);
    co_return !ec;
  }
  auto [ec, n] = co_await http::async_write(client_, message, kAwait);
  co_return !ec;
}

asio::awaitable<bool> Connection::WriteError(int status, absl::string_view code,
                                             std::string message, int version,
                                             bool keep_alive) {
  message += '\n';
  core::HttpResponse response =
      core::MakeErrorResponse(status, code, std::move(message));
  co_return co_await Write(response, false, version, keep_alive);
}

}  // namespace matgto::proxy
