// WebSocket sessions after an upgrade: relaying one between a client and an
// upstream (reporting every message to a sink, for recording), and playing
// a recorded one back to a client with no upstream. Beast's websocket stream
// on both sides; control frames are answered by each side's stream.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "server/core/http.h"
#include "server/core/websocket.h"

namespace matgto::websocket {

namespace asio = boost::asio;
namespace beast = boost::beast;

using UpgradeRequest = beast::http::request<beast::http::string_body>;
using PlainClient = beast::tcp_stream;
// A replayed plain session works on the client's socket itself: the
// websocket stream keeps its own timeouts, and beast::tcp_stream would wrap
// every read and write of each message in an operation of its own.
using PlainReplayClient = asio::ip::tcp::socket;
using TlsClient = asio::ssl::stream<beast::tcp_stream&>;
using PlainUpstream = beast::tcp_stream;
using TlsUpstream = asio::ssl::stream<beast::tcp_stream>;

struct WsLimits {
  uint64_t max_message_bytes = 16ull * 1024 * 1024;
  // A session with no frame in either direction for this long is closed.
  absl::Duration idle_timeout = absl::Minutes(5);
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Injected faults (core::WsFaults): the client's connection is dropped
  // after it got this many messages (0: never); each message to the client
  // waits this long first.
  uint32_t drop_after_messages = 0;
  absl::Duration message_delay = absl::ZeroDuration();
};

struct RelayResult {
  // Set when no session was established: what the client must be told
  // (the upstream's own refusal, or a 502 matgto made).
  std::optional<core::HttpResponse> refusal;
};

// Performs the upgrade with the upstream over the connected `upstream`,
// accepts the client's `request` answering with the upstream's subprotocol
// and headers, then relays messages both ways until both sides have closed.
// permessage-deflate is declined on both sides, so record and replay agree.
template <class Client, class Upstream>
asio::awaitable<RelayResult> RelayWebSocket(
    Client& client, const UpgradeRequest& request, Upstream upstream,
    std::string host_header, std::string target, core::WsSessionSink* sink,
    WsLimits limits);

// How a recorded close is put on the wire in replay. A close frame may only
// carry the codes Beast (and RFC 6455 7.4) allow to be sent: 1000-1003,
// 1007-1013, 3000-4999. 1006 ("abnormal closure", what a dropped
// connection is recorded as) and 1015 (TLS failure) mean no close frame was
// sent: the connection is dropped. Any other code (1005 "no status", 1004,
// 1014, out of range) is a close frame without a code.
enum class ReplayClose { kWithCode, kWithoutCode, kDropConnection };
ReplayClose HowToReplayClose(int code);

// Accepts the client's `request` answering like the recorded upgrade
// response, then follows `playback`: sends recorded server messages, checks
// client messages (closing with 1008 on a mismatch) and replays the close
// (HowToReplayClose).
template <class Client>
asio::awaitable<void> ReplayWebSocket(Client& client,
                                      const UpgradeRequest& request,
                                      core::WsPlayback& playback,
                                      WsLimits limits);

}  // namespace matgto::websocket
