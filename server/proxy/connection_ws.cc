// Connection's WebSocket path: ask the handler, then replay a recording or
// relay to the upstream through websocket/. Kept in its own translation unit
// because Beast's websocket templates are expensive to compile.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/str_cat.h"
#include "server/proxy/connection.h"
#include "server/proxy/wire.h"
#include "server/websocket/session.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

}  // namespace

template <class Client>
asio::awaitable<bool> Connection::RelayUpgrade(
    Client& client, const http::request<http::string_body>& request,
    const core::UrlParts& url, const core::WsRelay& relay,
    core::HttpResponse& refusal) {
  FetchOutcome error;
  std::optional<UpstreamClient::RawConnection> conn =
      co_await upstream_.TakeConnection(url, error);
  if (!conn.has_value()) {
    refusal = core::MakeErrorResponse(error.error_status, error.error_code,
                                      error.error_message + "\n");
    co_return false;
  }
  const std::string host = HostFor(url);  // IPv6 literals in brackets
  std::string target = url.path;
  if (url.has_query) target += "?" + url.query;
  websocket::WsLimits limits{
      .max_message_bytes = config_.ws_max_message_bytes,
      .idle_timeout = config_.ws_idle_timeout,
      .handshake_timeout = config_.handshake_timeout,
      .drop_after_messages = relay.faults.drop_after_messages,
      .message_delay = relay.faults.message_delay};
  websocket::RelayResult result;
  if (conn->index() == 0) {
    result = co_await websocket::RelayWebSocket(
        client, request, std::move(std::get<0>(*conn)), host, target,
        relay.sink.get(), limits);
  } else {
    result = co_await websocket::RelayWebSocket(
        client, request, std::move(std::get<1>(*conn)), host, target,
        relay.sink.get(), limits);
  }
  if (result.refusal.has_value()) {
    refusal = std::move(*result.refusal);
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> Connection::HandleUpgrade(const ClientRequest& parsed,
                                                core::UrlParts url) {
  const int version = parsed.version();
  // Copies: Beast's accept needs the parsed request afterwards (with
  // std::allocator fields, which the WebSocket layer takes).
  const http::request<http::string_body> request = ToStdRequest(parsed);
  core::HttpRequest upgrade =
      ToCore(ClientRequest(parsed), core::FormatUrl(url));
  core::WsDecision decision = handler_.OnWebSocket(route_, upgrade);
  websocket::WsLimits limits{.max_message_bytes = config_.ws_max_message_bytes,
                             .idle_timeout = config_.ws_idle_timeout,
                             .handshake_timeout = config_.handshake_timeout,
                             .drop_after_messages = 0,
                             .message_delay = absl::ZeroDuration()};
  if (auto* reply = std::get_if<core::Reply>(&decision)) {
    co_await Write(*reply->response, false, version, false);
    co_return;
  }
  if (auto* replay = std::get_if<core::WsReplay>(&decision)) {
    limits.drop_after_messages = replay->faults.drop_after_messages;
    limits.message_delay = replay->faults.message_delay;
    if (client_tls_.has_value()) {
      co_await websocket::ReplayWebSocket(*client_tls_, request,
                                          *replay->playback, limits);
    } else {
      co_await websocket::ReplayWebSocket(client_.socket(), request,
                                          *replay->playback, limits);
    }
    co_return;
  }
  const core::WsRelay& relay = std::get<core::WsRelay>(decision);
  core::HttpResponse refusal;
  bool relayed = false;
  if (client_tls_.has_value()) {
    relayed = co_await RelayUpgrade(*client_tls_, request, url, relay, refusal);
  } else {
    relayed = co_await RelayUpgrade(client_, request, url, relay, refusal);
  }
  if (!relayed && refusal.status != 0) {
    handler_.OnForwardFailed(
        core::Forward{relay.ticket}, upgrade,
        core::FindHeader(refusal.headers, "X-Matgto-Error")
            ? *core::FindHeader(refusal.headers, "X-Matgto-Error")
            : "upstream-ws-refused");
    co_await Write(refusal, false, version, false);
  }
}

}  // namespace matgto::proxy
