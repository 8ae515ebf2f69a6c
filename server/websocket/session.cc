#include "server/websocket/session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/utf8.h"
#include "server/websocket/idle_watch.h"

namespace matgto::websocket {
namespace {

namespace http = beast::http;
namespace ws = beast::websocket;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

using Headers = std::vector<std::pair<std::string, std::string>>;

bool Skipped(beast::string_view name,
             std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (beast::iequals(name, n)) return true;
  }
  return false;
}

// End-to-end headers of the client's upgrade request, for the upstream
// handshake (Beast writes Host, Upgrade, Connection and the Sec-WebSocket-Key
// and -Version itself; extensions are declined).
Headers RequestHeadersToForward(const UpgradeRequest& request) {
  Headers out;
  for (const auto& f : request) {
    if (Skipped(f.name_string(),
                {"host", "upgrade", "connection", "sec-websocket-key",
                 "sec-websocket-version", "sec-websocket-extensions",
                 "proxy-connection", "proxy-authorization", "keep-alive", "te",
                 "content-length", "transfer-encoding"})) {
      continue;
    }
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}

// Headers of an upgrade response to repeat to the client.
Headers ResponseHeadersToRepeat(const core::Headers& headers) {
  Headers out;
  for (const core::Header& h : headers) {
    if (Skipped(h.name, {"upgrade", "connection", "sec-websocket-accept",
                         "sec-websocket-extensions", "content-length",
                         "transfer-encoding", "keep-alive"})) {
      continue;
    }
    out.emplace_back(h.name, h.value);
  }
  return out;
}

void ApplyResponseHeaders(ws::response_type& r, const Headers& headers) {
  for (const auto& [name, value] : headers) r.erase(name);
  for (const auto& [name, value] : headers) r.insert(name, value);
}

core::HttpResponse ToCore(const ws::response_type& r) {
  core::HttpResponse out;
  out.status = static_cast<int>(r.result_int());
  out.reason = std::string(r.reason());
  out.version = r.version();
  for (const auto& f : r) {
    out.headers.push_back(
        {std::string(f.name_string()), std::string(f.value())});
  }
  out.body = r.body();
  return out;
}

// The TCP socket under `s` (a replayed plain session's lowest layer is the
// socket itself).
template <class S>
asio::ip::tcp::socket& SocketOf(S& s) {
  auto& lowest = beast::get_lowest_layer(s);
  if constexpr (requires { lowest.socket(); }) {
    return lowest.socket();
  } else {
    return lowest;
  }
}

template <class Stream>
void Configure(Stream& s, const WsLimits& limits) {
  // (The websocket stream keeps its own timer; a tcp_stream under it must
  // not close the socket on a deadline of its own.)
  if constexpr (requires { beast::get_lowest_layer(s).expires_never(); }) {
    beast::get_lowest_layer(s).expires_never();
  }
  ws::stream_base::timeout t;
  t.handshake_timeout = absl::ToChronoMilliseconds(limits.handshake_timeout);
  // (--ws-idle-timeout is the session's IdleWatch, not Beast's per-read
  // timer: see idle_watch.h.)
  t.idle_timeout = ws::stream_base::none();
  t.keep_alive_pings = false;
  s.set_option(t);
  s.read_message_max(limits.max_message_bytes);
  s.auto_fragment(false);
}

std::string CloseReasonText(std::string reason) {
  if (reason.size() > 123)
    reason.resize(123);  // RFC 6455 5.5: 125-byte payload
  return reason;
}

// Shared by the two directions of one relayed session.
struct RelayState {
  core::WsSessionSink* sink;
  absl::Time opened;
  bool close_seen = false;
  WsLimits faults{};
  // Messages written to the client so far.
  uint32_t to_client = 0;
  // The session's idle deadline (null until both sides are open).
  IdleWatch* idle = nullptr;

  void Close(core::WsDirection initiator, int code, std::string reason) {
    if (close_seen) return;
    close_seen = true;
    if (sink != nullptr) {
      sink->OnClose({initiator, code, std::move(reason), absl::Now() - opened});
    }
  }
};

template <class S>
void DropConnection(S& s) {
  beast::error_code ignored;
  SocketOf(s).shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  SocketOf(s).close(ignored);
}

// Beast 1.81 checks that a text message is UTF-8 frame by frame, but skips
// the end-of-message check when the final frame is empty: a message ending
// in a cut sequence ("\xe2\x82", then an empty FIN frame) gets through.
// RFC 6455 8.1 says to fail the connection with 1007; this does, on the whole
// message (found by our websocket fuzzer,
// tests/fuzz/corpus/websocket/regression-text-truncated-utf8-then-empty-final-frame).
template <class S>
bool IsBadText(const S& s, const beast::flat_buffer& buffer) {
  if (!s.got_text()) return false;
  const auto data = buffer.data();
  return !core::IsValidUtf8(
      absl::string_view(static_cast<const char*>(data.data()), data.size()));
}

constexpr char kBadTextReason[] = "text message is not UTF-8";

template <class From, class To>
asio::awaitable<void> Pump(From& from, To& to, core::WsDirection direction,
                           RelayState& state) {
  for (;;) {
    beast::flat_buffer buffer;
    auto [ec, n] = co_await from.async_read(buffer, kAwait);
    if (ec == ws::error::closed) {
      ws::close_reason reason = from.reason();
      state.Close(direction, reason.code, std::string(reason.reason.c_str()));
      if (to.is_open()) co_await to.async_close(reason, kAwait);
      co_return;
    }
    if (ec) {
      // Dropped without a close frame: 1006 "abnormal closure" (also when
      // --ws-idle-timeout closed the client's connection).
      const bool idle = state.idle != nullptr && state.idle->expired();
      state.Close(direction, 1006,
                  CloseReasonText(
                      idle ? absl::StrCat("no message either way for ",
                                          absl::FormatDuration(
                                              state.faults.idle_timeout),
                                          " (--ws-idle-timeout)")
                           : absl::StrCat("connection lost: ", ec.message())));
      if (to.is_open())
        co_await to.async_close(ws::close_code::going_away, kAwait);
      co_return;
    }
    if (state.idle != nullptr) state.idle->Touch();  // (once per message)
    if (IsBadText(from, buffer)) {
      // Neither recorded nor forwarded: the sender is told why, the other
      // side that the relay is going away.
      state.Close(direction, 1007, kBadTextReason);
      co_await from.async_close(
          ws::close_reason(ws::close_code::bad_payload, kBadTextReason),
          kAwait);
      if (to.is_open())
        co_await to.async_close(ws::close_code::going_away, kAwait);
      co_return;
    }
    if (state.sink != nullptr) {
      state.sink->OnMessage(
          {direction,
           from.got_text() ? core::WsKind::kText : core::WsKind::kBinary,
           beast::buffers_to_string(buffer.data()),
           absl::Now() - state.opened});
    }
    const bool to_client = direction == core::WsDirection::kServerToClient;
    if (to_client && state.faults.message_delay > absl::ZeroDuration()) {
      asio::steady_timer timer(to.get_executor());
      timer.expires_after(
          absl::ToChronoMilliseconds(state.faults.message_delay));
      co_await timer.async_wait(kAwait);
    }
    to.text(from.got_text());
    auto [wec, wn] = co_await to.async_write(buffer.data(), kAwait);
    if (!wec && to_client && state.faults.drop_after_messages > 0 &&
        ++state.to_client >= state.faults.drop_after_messages) {
      // Injected: the client's connection drops, no close frame.
      DropConnection(to);
      DropConnection(from);
      co_return;
    }
    if (wec) {
      state.Close(direction == core::WsDirection::kClientToServer
                      ? core::WsDirection::kServerToClient
                      : core::WsDirection::kClientToServer,
                  1006, "connection lost");
      co_return;
    }
  }
}

template <class S>
void RecordControlFrames(S& s, core::WsDirection direction, RelayState& state) {
  s.control_callback([&state, direction](ws::frame_type kind,
                                         beast::string_view payload) {
    if (state.idle != nullptr) state.idle->Touch();  // a frame, too
    if (state.sink == nullptr || kind == ws::frame_type::close) return;
    state.sink->OnMessage({direction,
                           kind == ws::frame_type::ping ? core::WsKind::kPing
                                                        : core::WsKind::kPong,
                           std::string(payload), absl::Now() - state.opened});
  });
}

}  // namespace

template <class Client, class Upstream>
asio::awaitable<RelayResult> RelayWebSocket(
    Client& client, const UpgradeRequest& request, Upstream upstream,
    std::string host_header, std::string target, core::WsSessionSink* sink,
    WsLimits limits) {
  RelayResult result;
  ws::stream<Upstream> up(std::move(upstream));
  Configure(up, limits);
  Headers forward = RequestHeadersToForward(request);
  up.set_option(ws::stream_base::decorator([forward](ws::request_type& r) {
    for (const auto& [name, value] : forward) r.insert(name, value);
  }));
  ws::response_type response;
  auto [hec] =
      co_await up.async_handshake(response, host_header, target, kAwait);
  if (hec) {
    if (response.result_int() != 0 && response.result_int() != 101) {
      result.refusal = ToCore(response);  // the upstream's own answer
    } else {
      result.refusal = core::MakeErrorResponse(
          502, "upstream-ws-handshake-failed",
          absl::StrCat("matgto: the WebSocket handshake with ", host_header,
                       " failed: ", hec.message(), "\n"));
    }
    co_return result;
  }
  core::HttpResponse upgraded = ToCore(response);
  Headers repeat = ResponseHeadersToRepeat(upgraded.headers);

  ws::stream<Client&> down(client);
  Configure(down, limits);
  down.set_option(ws::stream_base::decorator(
      [repeat](ws::response_type& r) { ApplyResponseHeaders(r, repeat); }));
  auto [aec] = co_await down.async_accept(request, kAwait);
  if (aec) {
    co_await up.async_close(ws::close_code::going_away, kAwait);
    co_return result;
  }
  if (sink != nullptr) sink->OnUpgraded(upgraded);
  RelayState state{sink, absl::Now()};
  state.faults = limits;
  // Idle: the client's connection is closed; its pump then tells the
  // upstream (a going-away close) and records why.
  IdleWatch idle(down.get_executor(), limits.idle_timeout,
                 [&down] { DropConnection(down); });
  state.idle = &idle;
  RecordControlFrames(down, core::WsDirection::kClientToServer, state);
  RecordControlFrames(up, core::WsDirection::kServerToClient, state);
  using namespace asio::experimental::awaitable_operators;
  co_await (Pump(down, up, core::WsDirection::kClientToServer, state) &&
            Pump(up, down, core::WsDirection::kServerToClient, state));
  co_return result;
}

ReplayClose HowToReplayClose(int code) {
  if ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) ||
      (code >= 3000 && code <= 4999)) {
    return ReplayClose::kWithCode;
  }
  if (code == 1006 || code == 1015) return ReplayClose::kDropConnection;
  return ReplayClose::kWithoutCode;
}

template <class Client>
asio::awaitable<void> ReplayWebSocket(Client& client,
                                      const UpgradeRequest& request,
                                      core::WsPlayback& playback,
                                      WsLimits limits) {
  ws::stream<Client&> down(client);
  Configure(down, limits);
  Headers repeat = ResponseHeadersToRepeat(playback.upgrade_response().headers);
  down.set_option(ws::stream_base::decorator(
      [repeat](ws::response_type& r) { ApplyResponseHeaders(r, repeat); }));
  auto [aec] = co_await down.async_accept(request, kAwait);
  if (aec) co_return;
  // (As Beast's own idle timeout did: the connection is closed.)
  IdleWatch idle(down.get_executor(), limits.idle_timeout,
                 [&down] { DropConnection(down); });
  asio::steady_timer timer(down.get_executor());
  uint32_t sent = 0;  // messages to the client (for an injected drop)
  // A client message and its copy for the check, kept between messages so
  // that their storage is reused.
  beast::flat_buffer buffer;
  core::WsMessage got;
  for (;;) {
    core::WsStep step = playback.Next();
    if (step.delay > absl::ZeroDuration()) {
      timer.expires_after(absl::ToChronoMilliseconds(step.delay));
      co_await timer.async_wait(kAwait);
    }
    switch (step.kind) {
      case core::WsStep::Kind::kSend: {
        if (limits.message_delay > absl::ZeroDuration()) {
          timer.expires_after(absl::ToChronoMilliseconds(limits.message_delay));
          co_await timer.async_wait(kAwait);
        }
        down.text(step.message->kind != core::WsKind::kBinary);
        auto [ec, n] = co_await down.async_write(
            asio::buffer(step.message->payload), kAwait);
        if (ec) co_return;
        idle.Touch();
        if (limits.drop_after_messages > 0 &&
            ++sent >= limits.drop_after_messages) {
          DropConnection(down);
          co_return;
        }
        break;
      }
      case core::WsStep::Kind::kClose: {
        switch (HowToReplayClose(step.close->code)) {
          case ReplayClose::kWithCode:
            co_await down.async_close(
                ws::close_reason(static_cast<ws::close_code>(step.close->code),
                                 CloseReasonText(step.close->reason)),
                kAwait);
            break;
          case ReplayClose::kWithoutCode:
            co_await down.async_close(ws::close_reason(), kAwait);
            break;
          case ReplayClose::kDropConnection: {
            beast::error_code ignored;
            SocketOf(down).shutdown(asio::ip::tcp::socket::shutdown_both,
                                    ignored);
            break;
          }
        }
        co_return;
      }
      case core::WsStep::Kind::kExpect:
      case core::WsStep::Kind::kAwaitClientClose:
      case core::WsStep::Kind::kEnd: {
        buffer.clear();
        // (A large message's storage is not kept for the session's life.)
        if (buffer.capacity() > core::kKeptWsMessageBytes)
          buffer.shrink_to_fit();
        if (got.payload.capacity() > core::kKeptWsMessageBytes) {
          std::string().swap(got.payload);
        }
        auto [ec, n] = co_await down.async_read(buffer, kAwait);
        if (ec) co_return;  // the client closed (or dropped) the session
        idle.Touch();
        if (IsBadText(down, buffer)) {
          co_await down.async_close(
              ws::close_reason(ws::close_code::bad_payload, kBadTextReason),
              kAwait);
          co_return;
        }
        got.direction = core::WsDirection::kClientToServer;
        got.kind =
            down.got_text() ? core::WsKind::kText : core::WsKind::kBinary;
        got.payload.assign(static_cast<const char*>(buffer.data().data()),
                           buffer.size());
        got.since_open = absl::ZeroDuration();
        if (std::optional<std::string> reason = playback.Check(got)) {
          co_await down.async_close(
              ws::close_reason(ws::close_code::policy_error,
                               CloseReasonText(*reason)),
              kAwait);
          co_return;
        }
        if (step.kind != core::WsStep::Kind::kExpect) co_return;
        break;
      }
    }
  }
}

// The stream combinations the proxy uses.
template asio::awaitable<RelayResult>
RelayWebSocket<PlainClient, PlainUpstream>(PlainClient&, const UpgradeRequest&,
                                           PlainUpstream, std::string,
                                           std::string, core::WsSessionSink*,
                                           WsLimits);
template asio::awaitable<RelayResult> RelayWebSocket<PlainClient, TlsUpstream>(
    PlainClient&, const UpgradeRequest&, TlsUpstream, std::string, std::string,
    core::WsSessionSink*, WsLimits);
template asio::awaitable<RelayResult> RelayWebSocket<TlsClient, PlainUpstream>(
    TlsClient&, const UpgradeRequest&, PlainUpstream, std::string, std::string,
    core::WsSessionSink*, WsLimits);
template asio::awaitable<RelayResult> RelayWebSocket<TlsClient, TlsUpstream>(
    TlsClient&, const UpgradeRequest&, TlsUpstream, std::string, std::string,
    core::WsSessionSink*, WsLimits);
template asio::awaitable<void> ReplayWebSocket<PlainReplayClient>(
    PlainReplayClient&, const UpgradeRequest&, core::WsPlayback&, WsLimits);
template asio::awaitable<void> ReplayWebSocket<TlsClient>(TlsClient&,
                                                          const UpgradeRequest&,
                                                          core::WsPlayback&,
                                                          WsLimits);

}  // namespace matgto::websocket
