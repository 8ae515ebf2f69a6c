#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/grpc.h"
#include "server/core/url.h"
#include "server/proxy/coro.h"
#include "server/proxy/h2_server.h"

// What each stream of a client's HTTP/2 connection leads to (h2_server.h).

namespace matgto::proxy::h2 {

std::optional<core::UrlParts> ServerH2::Target(int32_t id, Stream& stream) {
  core::HttpRequest& request = stream.request;
  request.version = 20;
  stream.head = request.method == "HEAD";
  if (request.method == "CONNECT") {
    AnswerError(id, stream, 501, "h2-connect-unsupported",
                "matgto: CONNECT over HTTP/2 (WebSocket over HTTP/2, RFC "
                "8441) is not supported; use HTTP/1.1 for WebSockets");
    return std::nullopt;
  }
  std::string url;
  if (context_.origin.has_value()) {
    const H2Context::Origin& o = *context_.origin;
    url = absl::StrCat(o.scheme, "://", core::HostPort(o.host, o.port),
                       stream.path);
  } else if (!stream.scheme.empty() && !stream.authority.empty()) {
    url = absl::StrCat(stream.scheme, "://", stream.authority, stream.path);
  } else {
    AnswerError(id, stream, 400, "not-a-proxy-request",
                "matgto: an HTTP/2 request to the proxy itself needs "
                ":scheme and :authority naming the origin");
    return std::nullopt;
  }
  absl::StatusOr<core::UrlParts> parts = core::ParseAbsoluteUrl(url);
  if (!parts.ok() || (parts->scheme != "http" && parts->scheme != "https")) {
    AnswerError(id, stream, 400, "bad-request",
                absl::StrCat("matgto: bad request target '", url, "'",
                             parts.ok() ? "" : ": ",
                             parts.ok() ? "" : parts.status().message()));
    return std::nullopt;
  }
  core::FormatUrlTo(*parts, request.url);
  return *std::move(parts);
}

void ServerH2::Process(int32_t id, const std::shared_ptr<Stream>& stream) {
  stream->partial = false;
  std::optional<core::UrlParts> parts = Target(id, *stream);
  if (!parts.has_value()) return;
  core::Decision decision =
      context_.handler->OnRequest(context_.route, stream->request);
  if (auto* reply = std::get_if<core::Reply>(&decision)) {
    Deliver(id, stream, std::move(*reply));
    return;
  }
  tasks_.Spawn(Forward(id, stream, std::get<core::Forward>(decision),
                       *std::move(parts)));
}

void ServerH2::ProcessPartial(int32_t id,
                              const std::shared_ptr<Stream>& stream) {
  std::optional<core::UrlParts> parts = Target(id, *stream);
  if (!parts.has_value()) {
    stream->partial = false;
    return;
  }
  std::optional<core::Decision> decision =
      context_.handler->OnPartialRequest(context_.route, stream->request);
  if (!decision.has_value()) return;
  stream->partial = false;
  if (auto* reply = std::get_if<core::Reply>(&*decision)) {
    if (!reply->streamed ||
        reply->delivery.breaks != core::Delivery::Break::kNone) {
      Deliver(id, stream, std::move(*reply));
      return;
    }
    stream->streaming = true;
    stream->replay = std::move(*reply);
    AdvanceReplay(id, stream);
    return;
  }
  stream->streaming = true;
  tasks_.Spawn(Forward(id, stream, std::get<core::Forward>(*decision),
                       *std::move(parts)));
}

void ServerH2::Moved(int32_t id, const std::shared_ptr<Stream>& stream) {
  if (stream->replay.has_value()) {
    AdvanceReplay(id, stream);
  } else if (stream->streaming) {
    if (stream->feed.more) stream->feed.more();
    if (stream->request_whole.has_value() && stream->request_ended) {
      stream->request_whole->cancel();
    }
  } else if (stream->partial && !stream->answered) {
    ProcessPartial(id, stream);
  }
}

void ServerH2::AdvanceReplay(int32_t id,
                             const std::shared_ptr<Stream>& stream) {
  const core::Reply& reply = *stream->replay;
  const core::HttpResponse& r = *reply.response;
  const std::string& live = stream->request.body;
  StreamRelay relay(
      *this, id, stream, nullptr,
      [](const core::HttpResponse&, const core::ExchangeTiming&) {});
  const std::string* want = reply.streamed_request_body.get();
  if (want != nullptr &&
      (!absl::StartsWith(*want, live) ||
       (stream->request_ended && live.size() != want->size()))) {
    if (reply.on_stream_mismatch) reply.on_stream_mismatch(live);
    const std::string why = absl::StrCat(
        "matgto: the request stream parted from the recording it replays "
        "after ",
        live.size(), " bytes (", want->size(), " recorded)");
    stream->replay.reset();
    stream->streaming = false;
    if (!stream->answered) {
      AnswerError(id, *stream, 502, "stream-mismatch", why);
    } else {
      relay.EndNow(nullptr,
                   {{"grpc-status", std::string(kGrpcUnavailable)},
                    {"grpc-message", core::EncodeGrpcMessage(why)},
                    {"x-matgto-error", "stream-mismatch"}},
                   core::ExchangeTiming{});
    }
    Flush();
    return;
  }
  if (!stream->answered && !relay.HeadNow(r)) return;
  const absl::string_view body(r.body);
  while (stream->replay_chunk < r.chunks.size()) {
    const core::BodyChunk& c = r.chunks[stream->replay_chunk];
    if (!stream->request_ended && c.request_bytes.has_value() &&
        *c.request_bytes > live.size()) {
      return;  // the client has not sent that far yet
    }
    if (c.size > body.size() - stream->replay_offset) {
      stream->replay_chunk = r.chunks.size();  // a hand-edited cassette
      break;
    }
    if (!relay.PieceNow(body.substr(stream->replay_offset, c.size))) return;
    stream->replay_offset += c.size;
    ++stream->replay_chunk;
  }
  const bool whole =
      stream->request_ended || (want != nullptr && live.size() == want->size());
  if (!whole) return;
  if (stream->replay_offset < body.size() &&
      !relay.PieceNow(body.substr(stream->replay_offset))) {
    return;
  }
  stream->replay_offset = body.size();
  relay.EndNow(&r, r.trailers, core::ExchangeTiming{});
  stream->replay.reset();
  stream->streaming = false;
}

void ServerH2::Deliver(int32_t id, const std::shared_ptr<Stream>& stream,
                       core::Reply reply) {
  using Break = core::Delivery::Break;
  const core::Delivery& d = reply.delivery;
  if (d.breaks == Break::kHang) {
    stream->answered = true;
    return;
  }
  if (d.breaks != Break::kNone) {
    stream->answered = true;
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id,
                              NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (d.stream_speed > 0 && !reply.response->chunks.empty() && !stream->head) {
    stream->delay.emplace(tasks_.executor());
    tasks_.Spawn(ReplayPaced(id, stream, std::move(reply)));
    return;
  }
  if (d.first_byte_delay <= absl::ZeroDuration()) {
    Answer(id, *stream, std::move(reply.response), reply.error);
    return;
  }
  stream->answered = true;  // nothing else is read for it meanwhile
  stream->delay.emplace(tasks_.executor());
  stream->delay->expires_after(Chrono(d.first_byte_delay));
  tasks_.Spawn(AnswerLater(id, stream, std::move(reply)));
}

asio::awaitable<void> ServerH2::ReplayPaced(int32_t id,
                                            std::shared_ptr<Stream> stream,
                                            core::Reply reply) {
  const core::HttpResponse& r = *reply.response;
  const double speed = reply.delivery.stream_speed;
  StreamRelay relay(
      *this, id, stream, nullptr,
      [](const core::HttpResponse&, const core::ExchangeTiming&) {});
  if (reply.delivery.first_byte_delay > absl::ZeroDuration()) {
    stream->delay->expires_after(Chrono(reply.delivery.first_byte_delay));
    auto [ec] = co_await stream->delay->async_wait(kAwait);
    if (ec || Find(id) != stream.get()) co_return;
  }
  if (!relay.HeadNow(r)) co_return;
  const absl::Time start = absl::Now();
  const absl::string_view body(r.body);
  uint64_t offset = 0;
  for (const core::BodyChunk& c : r.chunks) {
    if (c.size > body.size() - offset) break;  // a hand-edited cassette
    const absl::Duration wait = start + c.at / speed - absl::Now();
    if (wait > absl::ZeroDuration()) {
      stream->delay->expires_after(Chrono(wait));
      auto [ec] = co_await stream->delay->async_wait(kAwait);
      if (ec || Find(id) != stream.get()) co_return;
    }
    if (!relay.PieceNow(body.substr(offset, c.size))) co_return;
    offset += c.size;
  }
  if (offset < body.size() && !relay.PieceNow(body.substr(offset))) {
    co_return;
  }
  relay.EndNow(&r, r.trailers, core::ExchangeTiming{});
}

asio::awaitable<void> ServerH2::AnswerLater(int32_t id,
                                            std::shared_ptr<Stream> stream,
                                            core::Reply reply) {
  if (!stream->delay.has_value()) co_return;
  auto [ec] = co_await stream->delay->async_wait(kAwait);
  if (ec || Find(id) != stream.get()) co_return;
  stream->answered = false;
  Answer(id, *stream, std::move(reply.response), reply.error);
  Flush();
}

asio::awaitable<void> ServerH2::Forward(int32_t id,
                                        std::shared_ptr<Stream> stream,
                                        core::Forward ticket,
                                        core::UrlParts url) {
  const core::HttpRequest& request = stream->request;
  // Over HTTP/2 when the upstream negotiates it on TLS, or by prior
  // knowledge when the client itself spoke h2c; else HTTP/1.1.
  const bool try_h2 =
      url.scheme == "https" || (url.scheme == "http" && !context_.client_tls);
  OriginLinks& links = origins_[absl::StrCat(
      url.scheme, "://", core::HostPort(url.host, url.port))];
  core::ExchangeHandler& handler = *context_.handler;
  StreamRelay relay(
      *this, id, stream, &ticket,
      [&](const core::HttpResponse& whole, const core::ExchangeTiming& timing) {
        handler.OnForwarded(ticket, request, whole, timing);
      });
  std::optional<FetchOutcome> outcome;
  RequestFeed* feed = stream->streaming ? &stream->feed : nullptr;
  if (try_h2 && !links.http11) {
    if (links.h2.empty() || !links.h2.back()->Usable()) {
      links.h2.push_back(UpstreamH2::Create(tasks_, context_));
    }
    UpstreamH2* h2 = links.h2.back().get();
    outcome =
        co_await h2->Fetch(request, url, stream->head ? nullptr : &relay, feed);
    if (!outcome.has_value()) links.http11 = true;
  }
  if (!outcome.has_value() && feed != nullptr) {
    // HTTP/1.1 sends a body whole: wait for the rest of it.
    stream->request_whole.emplace(tasks_.executor());
    while (!stream->request_ended) {
      stream->request_whole->expires_at(asio::steady_timer::time_point::max());
      co_await stream->request_whole->async_wait(kAwait);
    }
    if (stream->feed.aborted) {
      handler.OnForwardFailed(ticket, request, "client-closed");
      co_return;
    }
  }
  if (!outcome.has_value()) {
    UpstreamClient* h1 = nullptr;
    if (!links.h1_idle.empty()) {
      h1 = links.h1_idle.back();
      links.h1_idle.pop_back();
    } else {
      h1 = &links.h1.emplace_back(tasks_.executor(), *context_.config,
                                  context_.upstream_tls,
                                  context_.verify_upstream);
    }
    outcome = co_await h1->Fetch(request, url, stream->head ? nullptr : &relay);
    links.h1_idle.push_back(h1);
  }
  if (outcome->ended) {
    // Recorded by the relay, unless the body was too large to keep.
    if (!outcome->not_stored.empty()) {
      handler.OnNotStored(ticket, request, outcome->not_stored);
    } else if (!ticket.store) {
      handler.OnForwarded(ticket, request, *outcome->response, outcome->timing);
    }
    co_return;
  }
  if (outcome->relayed) {
    // The client has the head and part of the body. One that left an
    // event stream keeps its complete events; else nothing is recorded,
    // and a stream the upstream broke is reset.
    const std::string* type =
        outcome->response.has_value()
            ? core::FindHeader(outcome->response->headers, "content-type")
            : nullptr;
    if (outcome->client_gone && type != nullptr &&
        absl::StartsWithIgnoreCase(*type, "text/event-stream") &&
        TrimToCompleteEvents(*outcome->response)) {
      handler.OnForwarded(ticket, request, *outcome->response, outcome->timing);
    } else {
      handler.OnForwardFailed(
          ticket, request,
          outcome->client_gone ? "client-closed" : outcome->error_code);
    }
    if (Find(id) == stream.get()) {
      nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id,
                                NGHTTP2_INTERNAL_ERROR);
      Flush();
    }
    co_return;
  }
  if (!outcome->response.has_value()) {
    handler.OnForwardFailed(ticket, request, outcome->error_code);
    if (Find(id) == stream.get()) {
      AnswerError(id, *stream, outcome->error_status, outcome->error_code,
                  std::move(outcome->error_message));
      Flush();
    }
    co_return;
  }
  handler.OnForwarded(ticket, request, *outcome->response, outcome->timing);
  if (Find(id) != stream.get()) co_return;  // the client reset the stream
  Answer(
      id, *stream,
      std::make_shared<const core::HttpResponse>(*std::move(outcome->response)),
      "");
  Flush();
}

}  // namespace matgto::proxy::h2
