// Connection's writing of a response: as is (Write, WriteReply: one gather
// write of the header block and the body), or with replay latency or an
// injected fault (core::Delivery, Deliver): a pause before the status line,
// a body paced in slices, a hang, or a TCP RST at a chosen point.
#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/str_cat.h"
#include "server/proxy/connection.h"
#include "server/proxy/coro.h"
#include "server/proxy/send_now.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Break = core::Delivery::Break;

// Body slices: about 20 a second under a bandwidth cap, 20 in all when the
// body is spread over a duration.
size_t SliceBytes(const core::Delivery& d, size_t body) {
  if (d.bytes_per_second > 0) {
    return static_cast<size_t>(std::max<uint64_t>(1, d.bytes_per_second / 20));
  }
  if (d.body_duration > absl::ZeroDuration()) {
    return std::max<size_t>(1, body / 20);
  }
  return std::max<size_t>(1, body);
}

}  // namespace

asio::awaitable<bool> Connection::Pause(absl::Duration d) {
  if (d <= absl::ZeroDuration()) co_return !closing_;
  delivery_timer_.expires_after(Chrono(d));
  auto [ec] = co_await delivery_timer_.async_wait(kAwait);
  co_return !ec && !closing_;
}

asio::awaitable<void> Connection::Hang() {
  // Read (and drop) whatever the client sends until it gives up; no
  // timeout: that is the point. Shutdown and session close cancel it.
  client_.expires_never();
  std::array<char, 4096> scratch;
  for (;;) {
    auto [ec, n] = co_await client_.socket().async_read_some(
        asio::buffer(scratch), kAwait);
    if (ec) break;
  }
}

void Connection::Reset() {
  beast::error_code ignored;
  client_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
  client_.socket().close(ignored);
}

asio::awaitable<bool> Connection::Deliver(WireResponse& message,
                                          bool header_only,
                                          const core::Delivery& delivery) {
  if (client_tls_.has_value()) {
    co_return co_await DeliverOn(*client_tls_, message, header_only, delivery);
  }
  co_return co_await DeliverOn(client_, message, header_only, delivery);
}

template <class Stream>
asio::awaitable<bool> Connection::DeliverOn(Stream& stream,
                                            WireResponse& message,
                                            bool header_only,
                                            const core::Delivery& delivery) {
  if (delivery.breaks == Break::kHang) {
    co_await Hang();
    co_return false;
  }
  if (!co_await Pause(delivery.first_byte_delay)) co_return false;
  if (delivery.breaks == Break::kResetBeforeHeaders) {
    Reset();
    co_return false;
  }
  http::response_serializer<http::span_body<const char>, ClientFields>
      serializer(message);
  client_.expires_after(Chrono(config_.write_timeout));
  auto [hec, hn] =
      co_await http::async_write_header(stream, serializer, kAwait);
  if (hec) co_return false;
  if (delivery.breaks == Break::kResetAfterHeaders) {
    Reset();
    co_return false;
  }
  if (header_only) co_return true;

  const size_t body = message.body().size();
  const size_t stop_at =
      delivery.breaks == Break::kResetMidBody ? body / 2 : body;
  const size_t slice = SliceBytes(delivery, body);
  const absl::Time start = absl::Now();
  size_t written = 0;
  // `written` counts what went on the wire, chunk framing included (a
  // chunked body): the loop ends when the serializer is done, or, for a
  // reset mid-body, at half.
  const bool cut = delivery.breaks == Break::kResetMidBody;
  while (!serializer.is_done() && (!cut || written < stop_at)) {
    serializer.limit(cut ? std::min(slice, stop_at - written) : slice);
    client_.expires_after(Chrono(config_.write_timeout));
    auto [ec, n] = co_await http::async_write_some(stream, serializer, kAwait);
    if (ec) co_return false;
    written += n;
    // Where the body should be by now: the slower of the cap and the
    // spread.
    absl::Duration due = absl::ZeroDuration();
    if (delivery.bytes_per_second > 0) {
      due = absl::Seconds(static_cast<double>(written) /
                          static_cast<double>(delivery.bytes_per_second));
    }
    if (delivery.body_duration > absl::ZeroDuration() && body > 0) {
      due = std::max(
          due, delivery.body_duration *
                   (static_cast<double>(written) / static_cast<double>(body)));
    }
    if (!co_await Pause(start + due - absl::Now())) co_return false;
  }
  if (delivery.breaks == Break::kResetMidBody) {
    Reset();
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> Connection::Write(const core::HttpResponse& response,
                                        bool head_request, int version,
                                        bool keep_alive,
                                        absl::string_view invalid_code,
                                        const core::Delivery& delivery) {
  if (delivery.breaks == core::Delivery::Break::kHang ||
      delivery.breaks == core::Delivery::Break::kResetBeforeHeaders) {
    // Nothing of the response is sent (it may be empty).
    WireResponse none;
    co_return co_await Deliver(none, true, delivery);
  }
  const bool header_only =
      head_request || core::ResponseHasNoBody("", response.status);
  bool chunked = false;
  // Checked (and, when it goes out at once, written) as the header block's
  // bytes; Beast's message is built only to shape a delivery or to chunk.
  absl::Status valid = WireHeadTo(response, version, keep_alive, head_request,
                                  reply_head_, chunked);
  if (!valid.ok()) {
    // A response that cannot be sent as HTTP/1.1 (a hand-edited cassette):
    // a clear 502 instead of a broken connection.
    // (Built outside the co_await: see HandleConnect.)
    std::string message = absl::StrCat("matgto: the ",
                                       invalid_code == "cassette-bad-response"
                                           ? "recorded response"
                                           : "upstream response",
                                       " cannot be sent: ", valid.message());
    co_return co_await WriteError(502, invalid_code, std::move(message),
                                  version, keep_alive);
  }
  if (delivery.Immediate() && (header_only || !chunked)) {
    // The header block and the body (if any) in one gather write.
    std::array<asio::const_buffer, 2> bytes{
        asio::buffer(reply_head_),
        asio::buffer(response.body.data(),
                     header_only ? 0 : response.body.size())};
    co_return co_await WriteNow(bytes);
  }
  absl::StatusOr<WireResponse> wire =
      ToWire(response, version, keep_alive, head_request, reply_arena_.Reset());
  if (!wire.ok()) co_return false;  // WireHeadTo accepted it: never
  WireResponse& message = *wire;
  if (!delivery.Immediate()) {
    co_return co_await Deliver(message, header_only, delivery);
  }
  // Only a chunked body needs Beast's serializer.
  client_.expires_after(Chrono(config_.write_timeout));
  auto [ec, n] = co_await OnClient(
      [&](auto& s) { return http::async_write(s, message, kAwait); });
  co_return !ec;
}

asio::awaitable<bool> Connection::WriteNow(
    const std::array<asio::const_buffer, 2>& bytes) {
  beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(bytes);
  if (!client_tls_.has_value()) {
    beast::error_code ec;
    rest.consume(SendNow(client_, rest, ec));
    if (ec) co_return false;
    if (beast::buffer_bytes(rest) == 0) co_return true;
  }
  client_.expires_never();  // (a rarer path may have left one set)
  write_deadline_.Set(*this, Chrono(config_.write_timeout));
  auto [ec, n] = co_await OnClient(
      [&](auto& s) { return asio::async_write(Direct(s), rest, kAwait); });
  write_deadline_.Clear();
  co_return !ec;
}

asio::awaitable<bool> Connection::WriteReply(const core::Reply& reply,
                                             bool head_request, int version,
                                             bool keep_alive) {
  const core::HttpResponse& response = *reply.response;
  if (!response.chunks.empty() && version == 11 && !head_request &&
      reply.delivery.breaks == Break::kNone) {
    co_return co_await WriteStreamed(reply, keep_alive);
  }
  if (reply.delivery.Immediate() && !head_request && version == 11) {
    const SerializedHeads& heads = response.wire.Get<SerializedHeads>(
        [&response] { return SerializeHeads(response); });
    const std::string& head = keep_alive ? heads.keep_alive : heads.close;
    if (!head.empty()) {
      const std::array<asio::const_buffer, 2> message{
          asio::buffer(head), asio::buffer(response.body)};
      co_return co_await WriteNow(message);
    }
  }
  co_return co_await Write(response, head_request, version, keep_alive,
                           "cassette-bad-response", reply.delivery);
}

asio::awaitable<bool> Connection::WriteStreamHead(
    const core::HttpResponse& head, bool keep_alive, bool chunked) {
  core::HttpResponse framed;
  framed.status = head.status;
  framed.reason = head.reason;
  framed.version = head.version;
  framed.headers = head.headers;
  if (chunked) {
    core::RemoveHeaders(framed.headers, "Content-Length");
    core::SetHeader(framed.headers, "Transfer-Encoding", "chunked");
  }
  // (With its Content-Length, ToWire checks it against the body, which is
  // not here: the head is serialized with the header only.)
  absl::StatusOr<WireResponse> wire =
      ToWire(framed, 11, keep_alive, /*head_request=*/!chunked);
  if (!wire.ok()) co_return false;
  const std::string bytes = HeaderBytes(*wire);
  client_.expires_after(Chrono(config_.write_timeout));
  auto [ec, n] = co_await OnClient([&](auto& s) {
    return asio::async_write(s, asio::buffer(bytes), kAwait);
  });
  co_return !ec;
}

asio::awaitable<bool> Connection::WriteStreamPiece(std::string_view bytes,
                                                   bool chunked) {
  if (bytes.empty()) co_return true;
  if (!chunked) {
    client_.expires_after(Chrono(config_.write_timeout));
    auto [ec, n] = co_await OnClient([&](auto& s) {
      return asio::async_write(s, asio::buffer(bytes.data(), bytes.size()),
                               kAwait);
    });
    co_return !ec;
  }
  const std::string size = absl::StrCat(absl::Hex(bytes.size()), "\r\n");
  const std::array<asio::const_buffer, 3> parts{
      asio::buffer(size), asio::buffer(bytes.data(), bytes.size()),
      asio::buffer("\r\n", 2)};
  client_.expires_after(Chrono(config_.write_timeout));
  auto [ec, n] = co_await OnClient(
      [&](auto& s) { return asio::async_write(s, parts, kAwait); });
  co_return !ec;
}

asio::awaitable<bool> Connection::WriteStreamEnd() {
  client_.expires_after(Chrono(config_.write_timeout));
  auto [ec, n] = co_await OnClient([&](auto& s) {
    return asio::async_write(s, asio::buffer("0\r\n\r\n", 5), kAwait);
  });
  co_return !ec;
}

asio::awaitable<bool> Connection::WriteStreamed(const core::Reply& reply,
                                                bool keep_alive) {
  const core::HttpResponse& r = *reply.response;
  const double speed = reply.delivery.stream_speed;
  if (!co_await Pause(reply.delivery.first_byte_delay)) co_return false;
  if (!co_await WriteStreamHead(r, keep_alive)) co_return false;
  const absl::Time start = absl::Now();
  const std::string_view body(r.body);
  uint64_t offset = 0;
  for (const core::BodyChunk& c : r.chunks) {
    // Pieces that do not fit the body (a hand-edited cassette) end the
    // pacing: the rest goes at once.
    if (c.size > body.size() - offset) break;
    if (speed > 0) {
      const bool paused = co_await Pause(start + c.at / speed - absl::Now());
      if (!paused) co_return false;
    }
    if (!co_await WriteStreamPiece(body.substr(offset, c.size))) {
      co_return false;
    }
    offset += c.size;
  }
  if (!co_await WriteStreamPiece(body.substr(offset))) co_return false;
  co_return co_await WriteStreamEnd();
}

asio::awaitable<bool> ClientRelay::Head(const core::HttpResponse& head) {
  // A body of known length (not chunked, not an event stream) keeps it.
  const std::string* type = core::FindHeader(head.headers, "Content-Type");
  chunked_ = core::FindHeader(head.headers, "Content-Length") == nullptr ||
             core::FindHeader(head.headers, "Transfer-Encoding") != nullptr ||
             (type != nullptr && IsStreamedResponse(*type, false));
  co_return co_await connection_.WriteStreamHead(head, keep_alive_, chunked_);
}

asio::awaitable<bool> ClientRelay::Piece(std::string_view bytes) {
  co_return co_await connection_.WriteStreamPiece(bytes, chunked_);
}

asio::awaitable<bool> ClientRelay::End(const core::HttpResponse* whole,
                                       const core::ExchangeTiming& timing,
                                       std::string_view last) {
  if (whole != nullptr) {
    connection_.handler_.OnForwarded(ticket_, request_, *whole, timing);
  }
  // (Not in one condition: GCC 12 can miscompile a co_await inside
  // && or ||: it crashed here with SIGILL.)
  if (!last.empty()) {
    const bool written = co_await connection_.WriteStreamPiece(last, chunked_);
    if (!written) co_return false;
  }
  if (!chunked_) co_return true;
  co_return co_await connection_.WriteStreamEnd();
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
