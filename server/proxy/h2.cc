#include "server/proxy/h2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/grpc.h"
#include "server/core/url.h"
#include "server/proxy/coro.h"
#include "server/proxy/h2_peer.h"
#include "server/proxy/h2_upstream.h"
#include "server/proxy/upstream.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {
namespace {
constexpr absl::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
}  // namespace

namespace h2 {
namespace {

// matgto's own error body as a sentence: the "message" of a JSON body (a
// replay miss explains itself in JSON), else the text itself.
std::string ErrorText(const std::string& body) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const boost::json::value* m = v.as_object().if_contains("message");
        m != nullptr && m->is_string()) {
      return std::string(m->as_string());
    }
  }
  return body;
}

// Streams a client may have open at once.
constexpr uint32_t kMaxConcurrentStreams = 100;
// gRPC status UNAVAILABLE: what a gRPC client gets when matgto itself cannot
// answer (a replay miss, an unreachable upstream). Not NOT_FOUND, which a
// service may return on its own and a test may expect.
constexpr absl::string_view kGrpcUnavailable = "14";

// ---------------------------------------------------------------------------
// The client side: one HTTP/2 connection from a client.

class ServerH2 final : public Peer {
 public:
  ServerH2(Tasks& tasks, H2Context context, std::unique_ptr<ByteStream> stream)
      : Peer(tasks), context_(std::move(context)) {
    stream_ = std::move(stream);
  }

  asio::awaitable<void> Run(beast::flat_buffer& pending) {
    nghttp2_session_callbacks* raw_callbacks = nullptr;
    nghttp2_session_callbacks_new(&raw_callbacks);
    CallbacksPtr callbacks(raw_callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        callbacks.get(), &ServerH2::OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks.get(),
                                                     &ServerH2::OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks.get(),
                                                         &ServerH2::OnFrame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks.get(), &ServerH2::OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks.get(),
                                                           &ServerH2::OnClose);
    nghttp2_session* session = nullptr;
    nghttp2_session_server_new(&session, callbacks.get(), this);
    session_.reset(session);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         context_.config->max_header_bytes}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings,
                            std::size(settings));
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                          kConnectionWindow);

    bool open = true;
    if (pending.size() > 0) {
      open = Receive(pending.data().data(), pending.size());
      pending.consume(pending.size());
      ProcessReady();
    }
    Flush();
    std::array<char, 16 * 1024> data;
    bool goaway = false;
    while (open && !broken_) {
      if (*context_.closing && !goaway) {
        nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(session),
                              NGHTTP2_NO_ERROR, nullptr, 0);
        goaway = true;
        Flush();
      }
      if (goaway && streams_.empty()) break;
      if (Done()) break;
      if (streams_.empty()) {
        stream_->Tcp().expires_after(Chrono(context_.config->idle_timeout));
      } else {
        stream_->Tcp().expires_never();
      }
      auto [ec, n] = co_await stream_->ReadSome(asio::buffer(data));
      if (ec) {
        // Cancelled by a drain (Connection::RequestClose): say GOAWAY,
        // finish the streams in flight, then end.
        if (ec == asio::error::operation_aborted && *context_.closing &&
            !goaway) {
          continue;
        }
        break;
      }
      open = Receive(data.data(), n);
      ProcessReady();
      Flush();
    }

    // Ends every exchange in flight (their upstream connections close),
    // lets the writer send what is queued, within the write timeout.
    for (auto& [key, links] : origins_) {
      for (auto& h2 : links.h2) h2->Cancel();
      for (UpstreamClient& h1 : links.h1) h1.Cancel();
    }
    for (auto& [id, stream] : streams_) stream->delay.reset();
    stream_->Tcp().expires_after(Chrono(context_.config->write_timeout));
    co_await tasks_.AllDone();
  }

 private:
  struct Stream {
    core::HttpRequest request;
    std::string scheme;
    std::string authority;
    std::string path;
    size_t header_bytes = 0;
    // A response was submitted (or the request refused): what else the
    // client sends on the stream is ignored.
    bool answered = false;
    bool head = false;
    std::shared_ptr<const core::HttpResponse> response;
    size_t sent = 0;
    // Holds a latency pause (Delivery::first_byte_delay).
    std::optional<asio::steady_timer> delay;
    // A relayed response (StreamRelay): bytes that arrived and wait for
    // nghttp2 to take them, whether all did, and the trailers then.
    bool relaying = false;
    std::string pending;
    size_t pending_at = 0;
    bool eof = false;
    core::Headers trailers;
    // A gRPC request not yet whole and not yet decided: the session is
    // asked again as more of it arrives (OnPartialRequest).
    bool partial = false;
    // Decided before its end (forwarded, or replayed from an interleaved
    // recording): its body keeps arriving after `answered`.
    bool streaming = false;
    bool request_ended = false;
    // A streaming forward: the body as it goes upstream, and a wake-up for
    // one that must wait for the whole request (an HTTP/1.1 upstream).
    RequestFeed feed;
    std::optional<asio::steady_timer> request_whole;
    // A streaming replay (StreamedReplay): the reply, the pieces and bytes
    // of its body already sent.
    std::optional<core::Reply> replay;
    size_t replay_chunk = 0;
    size_t replay_offset = 0;
  };

  // Relays an upstream's response to client stream `id` as it arrives,
  // from an HTTP/2 upstream (H2Relay, synchronous) or an HTTP/1.1 one
  // (ResponseRelay); `on_whole` records the exchange before the client gets
  // the end of the body.
  class StreamRelay final : public H2Relay, public ResponseRelay {
   public:
    using OnWhole = std::function<void(const core::HttpResponse&,
                                       const core::ExchangeTiming&)>;
    // `ticket`: the forward whose response this is (null: a replay), which
    // says whether its body is kept and where it goes once large.
    StreamRelay(ServerH2& server, int32_t id, std::shared_ptr<Stream> stream,
                const core::Forward* ticket, OnWhole on_whole)
        : server_(server),
          id_(id),
          stream_(std::move(stream)),
          ticket_(ticket),
          on_whole_(std::move(on_whole)) {}

    bool KeepBody() const override {
      return ticket_ != nullptr && ticket_->store;
    }
    core::BodySpooler* Spooler() const override {
      return KeepBody() ? ticket_->spooler.get() : nullptr;
    }

    bool HeadNow(const core::HttpResponse& head) override {
      if (!Alive() || stream_->answered) return false;
      stream_->answered = true;
      stream_->relaying = true;
      NvList nv;
      server_.HeadFields(head, nv);
      nghttp2_data_provider body{};
      body.source.ptr = &server_;
      body.read_callback = &ServerH2::ReadResponseBody;
      nghttp2_submit_response(server_.session_.get(), id_, nv.data(), nv.size(),
                              &body);
      server_.Flush();
      return true;
    }
    bool PieceNow(absl::string_view bytes) override {
      if (!Alive()) return false;
      stream_->pending.append(bytes.data(), bytes.size());
      nghttp2_session_resume_data(server_.session_.get(), id_);
      server_.Flush();
      return true;
    }
    bool EndNow(const core::HttpResponse* whole, const core::Headers& trailers,
                const core::ExchangeTiming& timing) override {
      if (whole != nullptr) on_whole_(*whole, timing);
      if (!Alive()) return false;
      stream_->trailers = trailers;
      stream_->eof = true;
      nghttp2_session_resume_data(server_.session_.get(), id_);
      server_.Flush();
      return true;
    }
    asio::awaitable<bool> Head(const core::HttpResponse& head) override {
      co_return HeadNow(head);
    }
    asio::awaitable<bool> Piece(std::string_view bytes) override {
      co_return PieceNow(absl::string_view(bytes.data(), bytes.size()));
    }
    asio::awaitable<bool> End(const core::HttpResponse* whole,
                              const core::ExchangeTiming& timing) override {
      if (whole != nullptr) co_return EndNow(whole, whole->trailers, timing);
      if (!Alive()) co_return false;
      stream_->eof = true;
      nghttp2_session_resume_data(server_.session_.get(), id_);
      server_.Flush();
      co_return true;
    }

   private:
    bool Alive() const { return server_.Find(id_) == stream_.get(); }
    ServerH2& server_;
    const int32_t id_;
    const std::shared_ptr<Stream> stream_;
    const core::Forward* const ticket_;
    OnWhole on_whole_;
  };

  Stream* Find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  void ProcessReady() {
    std::vector<int32_t> ready;
    ready.swap(ready_);
    for (int32_t id : ready) {
      auto it = streams_.find(id);
      if (it != streams_.end()) Process(id, it->second);
    }
    std::vector<int32_t> moved;
    moved.swap(moved_);
    std::sort(moved.begin(), moved.end());
    moved.erase(std::unique(moved.begin(), moved.end()), moved.end());
    for (int32_t id : moved) {
      auto it = streams_.find(id);
      if (it != streams_.end()) Moved(id, it->second);
    }
  }

  // Where the request on stream `id` goes (its url is set); nullopt when
  // it cannot go anywhere (answered with an error).
  std::optional<core::UrlParts> Target(int32_t id, Stream& stream) {
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

  // A complete request: the session decides, as for HTTP/1.1.
  void Process(int32_t id, const std::shared_ptr<Stream>& stream) {
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

  // A gRPC request not yet whole: the session may decide now (a bidirectional
  // call may wait for answers before it sends on).
  void ProcessPartial(int32_t id, const std::shared_ptr<Stream>& stream) {
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

  // More of a streaming request arrived, or it ended.
  void Moved(int32_t id, const std::shared_ptr<Stream>& stream) {
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

  // A streaming replay: the recorded response's pieces go out as the live
  // request reaches what had been sent when each arrived (request_bytes);
  // the live body must grow into the recorded one, and the response ends
  // once both are whole.
  void AdvanceReplay(int32_t id, const std::shared_ptr<Stream>& stream) {
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
    const bool whole = stream->request_ended ||
                       (want != nullptr && live.size() == want->size());
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

  // A reply of the session's, with its latency or fault. HTTP/2 carries out
  // a first-byte delay, a hang and the resets (as RST_STREAM); body pacing
  // is an HTTP/1.1 feature for now.
  void Deliver(int32_t id, const std::shared_ptr<Stream>& stream,
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
    if (d.stream_speed > 0 && !reply.response->chunks.empty() &&
        !stream->head) {
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

  // A recorded streamed body with its recorded gaps (--stream-timing
  // as-recorded): the head, then each piece when its time comes.
  asio::awaitable<void> ReplayPaced(int32_t id, std::shared_ptr<Stream> stream,
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

  asio::awaitable<void> AnswerLater(int32_t id, std::shared_ptr<Stream> stream,
                                    core::Reply reply) {
    if (!stream->delay.has_value()) co_return;
    auto [ec] = co_await stream->delay->async_wait(kAwait);
    if (ec || Find(id) != stream.get()) co_return;
    stream->answered = false;
    Answer(id, *stream, std::move(reply.response), reply.error);
    Flush();
  }

  asio::awaitable<void> Forward(int32_t id, std::shared_ptr<Stream> stream,
                                core::Forward ticket, core::UrlParts url) {
    const core::HttpRequest& request = stream->request;
    // Over HTTP/2 when the upstream negotiates it on TLS, or by prior
    // knowledge when the client itself spoke h2c; else HTTP/1.1.
    const bool try_h2 =
        url.scheme == "https" || (url.scheme == "http" && !context_.client_tls);
    OriginLinks& links = origins_[absl::StrCat(
        url.scheme, "://", core::HostPort(url.host, url.port))];
    core::ExchangeHandler& handler = *context_.handler;
    StreamRelay relay(*this, id, stream, &ticket,
                      [&](const core::HttpResponse& whole,
                          const core::ExchangeTiming& timing) {
                        handler.OnForwarded(ticket, request, whole, timing);
                      });
    std::optional<FetchOutcome> outcome;
    RequestFeed* feed = stream->streaming ? &stream->feed : nullptr;
    if (try_h2 && !links.http11) {
      if (links.h2.empty() || !links.h2.back()->Usable()) {
        links.h2.push_back(UpstreamH2::Create(tasks_, context_));
      }
      UpstreamH2* h2 = links.h2.back().get();
      outcome = co_await h2->Fetch(request, url,
                                   stream->head ? nullptr : &relay, feed);
      if (!outcome.has_value()) links.http11 = true;
    }
    if (!outcome.has_value() && feed != nullptr) {
      // HTTP/1.1 sends a body whole: wait for the rest of it.
      stream->request_whole.emplace(tasks_.executor());
      while (!stream->request_ended) {
        stream->request_whole->expires_at(
            asio::steady_timer::time_point::max());
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
      outcome =
          co_await h1->Fetch(request, url, stream->head ? nullptr : &relay);
      links.h1_idle.push_back(h1);
    }
    if (outcome->ended) {
      // Recorded by the relay, unless the body was too large to keep.
      if (!outcome->not_stored.empty()) {
        handler.OnNotStored(ticket, request, outcome->not_stored);
      } else if (!ticket.store) {
        handler.OnForwarded(ticket, request, *outcome->response,
                            outcome->timing);
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
        handler.OnForwarded(ticket, request, *outcome->response,
                            outcome->timing);
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
    Answer(id, *stream,
           std::make_shared<const core::HttpResponse>(
               *std::move(outcome->response)),
           "");
    Flush();
  }

  void AnswerError(int32_t id, Stream& stream, int status,
                   absl::string_view code, std::string message) {
    Answer(id, stream,
           std::make_shared<const core::HttpResponse>(
               core::MakeErrorResponse(status, code, std::move(message))),
           code);
  }

  // Submits `response` on stream `id`. `error`: the X-Matgto-Error code when
  // the response is matgto's own; a gRPC client then gets it as a gRPC
  // status (UNAVAILABLE, the explanation in grpc-message).
  void Answer(int32_t id, Stream& stream,
              std::shared_ptr<const core::HttpResponse> response,
              absl::string_view error) {
    if (stream.answered) return;
    stream.answered = true;
    if (!error.empty() && core::IsGrpc(stream.request)) {
      NvList nv;
      nv.Add(":status", "200");
      nv.Add("content-type", "application/grpc");
      nv.Add("grpc-status", kGrpcUnavailable);
      nv.AddOwned("grpc-message",
                  core::EncodeGrpcMessage(ErrorText(response->body)));
      nv.Add("x-matgto-error", error);
      nghttp2_submit_response(session_.get(), id, nv.data(), nv.size(),
                              nullptr);
      return;
    }
    if (response->status < 200 || response->status > 999) {
      stream.answered = false;
      AnswerError(
          id, stream, 502,
          error.empty() ? "upstream-bad-response" : "cassette-bad-response",
          absl::StrCat("matgto: status ", response->status,
                       " cannot be sent over HTTP/2"));
      return;
    }
    NvList nv;
    HeadFields(*response, nv);
    const bool has_body =
        !stream.head &&
        !core::ResponseHasNoBody(stream.request.method, response->status) &&
        (!response->body.empty() || !response->trailers.empty());
    stream.response = std::move(response);
    stream.sent = 0;
    nghttp2_data_provider body{};
    body.source.ptr = this;
    body.read_callback = &ServerH2::ReadResponseBody;
    nghttp2_submit_response(session_.get(), id, nv.data(), nv.size(),
                            has_body ? &body : nullptr);
  }

  // :status and the fields of `response` that HTTP/2 carries.
  static void HeadFields(const core::HttpResponse& response, NvList& nv) {
    nv.AddOwned(":status", std::to_string(response.status));
    for (const core::Header& h : response.headers) {
      if (!NotForH2(h.name, h.value)) nv.AddLowered(h.name, h.value);
    }
  }

  static void SubmitTrailers(nghttp2_session* session, int32_t id,
                             const core::Headers& trailers, uint32_t* flags) {
    if (trailers.empty()) return;
    NvList nv;
    for (const core::Header& h : trailers) {
      if (!NotForH2(h.name, h.value)) nv.AddLowered(h.name, h.value);
    }
    if (nghttp2_submit_trailer(session, id, nv.data(), nv.size()) == 0) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }

  static ssize_t ReadResponseBody(nghttp2_session* session, int32_t id,
                                  uint8_t* buf, size_t length, uint32_t* flags,
                                  nghttp2_data_source* source, void*) {
    auto* self = static_cast<ServerH2*>(source->ptr);
    Stream* stream = self->Find(id);
    if (stream != nullptr && stream->relaying) {
      const size_t available = stream->pending.size() - stream->pending_at;
      if (available == 0) {
        if (!stream->eof) return NGHTTP2_ERR_DEFERRED;
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        SubmitTrailers(session, id, stream->trailers, flags);
        return 0;
      }
      const size_t n = std::min(length, available);
      std::memcpy(buf, stream->pending.data() + stream->pending_at, n);
      stream->pending_at += n;
      if (stream->pending_at == stream->pending.size()) {
        stream->pending.clear();
        stream->pending_at = 0;
      }
      return static_cast<ssize_t>(n);
    }
    if (stream == nullptr || stream->response == nullptr) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    const core::HttpResponse& r = *stream->response;
    const size_t n = std::min(length, r.body.size() - stream->sent);
    std::memcpy(buf, r.body.data() + stream->sent, n);
    stream->sent += n;
    if (stream->sent == r.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      SubmitTrailers(session, id, r.trailers, flags);
    }
    return static_cast<ssize_t>(n);
  }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                            void* user) {
    auto* self = static_cast<ServerH2*>(user);
    if (frame->hd.type == NGHTTP2_HEADERS &&
        frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      self->streams_[frame->hd.stream_id] = std::make_shared<Stream>();
    }
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t, void* user) {
    auto* self = static_cast<ServerH2*>(user);
    Stream* stream = self->Find(frame->hd.stream_id);
    if (stream == nullptr || stream->answered) return 0;
    // Request trailers are not kept (no client this proxy serves sends
    // meaningful ones; gRPC does not).
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    stream->header_bytes += namelen + valuelen + 32;
    if (stream->header_bytes > self->context_.config->max_header_bytes) {
      self->AnswerError(frame->hd.stream_id, *stream, 431, "header-too-large",
                        absl::StrCat("matgto: request headers exceed ",
                                     self->context_.config->max_header_bytes,
                                     " bytes (--max-header-bytes)"));
      return 0;
    }
    const absl::string_view n = View(name, namelen);
    const absl::string_view v = View(value, valuelen);
    core::HttpRequest& r = stream->request;
    if (n == ":method") {
      r.method.assign(v.data(), v.size());
    } else if (n == ":scheme") {
      stream->scheme.assign(v.data(), v.size());
    } else if (n == ":authority") {
      stream->authority.assign(v.data(), v.size());
    } else if (n == ":path") {
      stream->path.assign(v.data(), v.size());
    } else if (!n.empty() && n.front() != ':') {
      if (n == "host" && stream->authority.empty())
        stream->authority.assign(v.data(), v.size());
      r.headers.push_back({std::string(n), std::string(v)});
    }
    return 0;
  }

  static int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data,
                    size_t len, void* user) {
    auto* self = static_cast<ServerH2*>(user);
    Stream* stream = self->Find(id);
    if (stream == nullptr || (stream->answered && !stream->streaming)) {
      return 0;
    }
    std::string& body = stream->request.body;
    if (body.size() + len > self->context_.config->max_body_bytes) {
      const std::string why =
          absl::StrCat("matgto: request body exceeds ",
                       self->context_.config->max_body_bytes,
                       " bytes (--max-body-bytes)");
      if (stream->streaming) {
        self->Abandon(id, *stream);
        if (stream->answered) {
          nghttp2_submit_rst_stream(self->session_.get(), NGHTTP2_FLAG_NONE,
                                    id, NGHTTP2_CANCEL);
          return 0;
        }
      }
      self->AnswerError(id, *stream, 413, "body-too-large", why);
      return 0;
    }
    body.append(reinterpret_cast<const char*>(data), len);
    if (stream->streaming || stream->partial) self->moved_.push_back(id);
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = static_cast<ServerH2*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
      return 0;
    }
    const int32_t id = frame->hd.stream_id;
    Stream* stream = self->Find(id);
    if (stream == nullptr) return 0;
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      // A gRPC call's headers: it may be decided before its end.
      if (frame->hd.type == NGHTTP2_HEADERS &&
          frame->headers.cat == NGHTTP2_HCAT_REQUEST && !stream->answered &&
          core::IsGrpc(stream->request)) {
        stream->partial = true;
        self->moved_.push_back(id);
      }
      return 0;
    }
    if (stream->streaming) {
      stream->request_ended = true;
      stream->feed.ended = true;
      self->moved_.push_back(id);
    } else if (!stream->answered) {
      self->ready_.push_back(id);
    }
    return 0;
  }

  static int OnClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
    auto* self = static_cast<ServerH2*>(user);
    auto it = self->streams_.find(id);
    if (it == self->streams_.end()) return 0;
    if (it->second->delay.has_value()) it->second->delay->cancel();
    if (it->second->streaming) self->Abandon(id, *it->second);
    self->streams_.erase(it);
    return 0;
  }

  // A streaming request the client reset (or sent too much of): its
  // upstream stream is reset, and a forward waiting for its end ends.
  void Abandon(int32_t, Stream& stream) {
    stream.streaming = false;
    stream.replay.reset();
    stream.request_ended = true;
    stream.feed.ended = true;
    stream.feed.aborted = true;
    if (stream.feed.more) stream.feed.more();
    if (stream.request_whole.has_value()) stream.request_whole->cancel();
  }

  H2Context context_;
  std::map<int32_t, std::shared_ptr<Stream>> streams_;
  // Streams whose request is complete, handled after the bytes that
  // completed them are consumed (not inside nghttp2's callbacks).
  std::vector<int32_t> ready_;
  // Streams more of whose request arrived (partial or streaming ones).
  std::vector<int32_t> moved_;
  // (std::map: a forwarded stream holds a reference across suspensions.)
  std::map<std::string, OriginLinks> origins_;
};

template <class S>
asio::awaitable<void> Serve(S& stream, beast::flat_buffer& pending,
                            H2Context context) {
  Tasks tasks(LowestOf(stream).get_executor());
  ServerH2 server(tasks, std::move(context),
                  std::make_unique<StreamOf<S&>>(stream));
  co_await server.Run(pending);
}

}  // namespace
}  // namespace h2

bool LooksLikeH2Preface(absl::string_view bytes) {
  if (bytes.size() < 4) return false;
  const size_t n = std::min(bytes.size(), kPreface.size());
  return bytes.substr(0, n) == kPreface.substr(0, n);
}

boost::asio::awaitable<void> ServeH2(boost::beast::tcp_stream& stream,
                                     boost::beast::flat_buffer& pending,
                                     H2Context context) {
  co_await h2::Serve(stream, pending, std::move(context));
}

boost::asio::awaitable<void> ServeH2(
    boost::asio::ssl::stream<boost::beast::tcp_stream&>& stream,
    boost::beast::flat_buffer& pending, H2Context context) {
  co_await h2::Serve(stream, pending, std::move(context));
}

}  // namespace matgto::proxy
