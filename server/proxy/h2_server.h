// The client side of one HTTP/2 connection (ServeH2, h2.h). Its work is in
// two files: h2.cc the protocol (the nghttp2 session, requests read,
// responses submitted and their bodies fed), h2_exchanges.cc what each
// stream leads to (the session's decision; a reply delivered, paced or
// replayed against a request still arriving; a forward). Internal to the
// proxy.
//
// Threads: everything lives on the client connection's strand (h2.h).
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/core/exchange_handler.h"
#include "server/core/http.h"
#include "server/core/url.h"
#include "server/proxy/h2.h"
#include "server/proxy/h2_peer.h"
#include "server/proxy/h2_upstream.h"
#include "server/proxy/upstream.h"

namespace matgto::proxy::h2 {

// gRPC status UNAVAILABLE: what a gRPC client gets when matgto itself cannot
// answer (a replay miss, an unreachable upstream). Not NOT_FOUND, which a
// service may return on its own and a test may expect.
inline constexpr absl::string_view kGrpcUnavailable = "14";

class ServerH2 final : public Peer {
 public:
  ServerH2(Tasks& tasks, H2Context context, std::unique_ptr<ByteStream> stream)
      : Peer(tasks), context_(std::move(context)) {
    stream_ = std::move(stream);
  }

  asio::awaitable<void> Run(beast::flat_buffer& pending);

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
                              const core::ExchangeTiming& timing,
                              std::string_view last) override {
      // Recorded first (EndNow), then the last piece with the end of the
      // stream: nghttp2 sends them when this returns.
      if (whole != nullptr) {
        if (!last.empty() && Alive()) {
          stream_->pending.append(last.data(), last.size());
        }
        co_return EndNow(whole, whole->trailers, timing);
      }
      if (!last.empty() &&
          !PieceNow(absl::string_view(last.data(), last.size()))) {
        co_return false;
      }
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

  void ProcessReady();

  // Where the request on stream `id` goes (its url is set); nullopt when
  // it cannot go anywhere (answered with an error).
  std::optional<core::UrlParts> Target(int32_t id, Stream& stream);

  // A complete request: the session decides, as for HTTP/1.1.
  void Process(int32_t id, const std::shared_ptr<Stream>& stream);

  // A gRPC request not yet whole: the session may decide now (a bidirectional
  // call may wait for answers before it sends on).
  void ProcessPartial(int32_t id, const std::shared_ptr<Stream>& stream);

  // More of a streaming request arrived, or it ended.
  void Moved(int32_t id, const std::shared_ptr<Stream>& stream);

  // A streaming replay: the recorded response's pieces go out as the live
  // request reaches what had been sent when each arrived (request_bytes);
  // the live body must grow into the recorded one, and the response ends
  // once both are whole.
  void AdvanceReplay(int32_t id, const std::shared_ptr<Stream>& stream);

  // A reply of the session's, with its latency or fault. HTTP/2 carries out
  // a first-byte delay, a hang and the resets (as RST_STREAM); body pacing
  // is an HTTP/1.1 feature for now.
  void Deliver(int32_t id, const std::shared_ptr<Stream>& stream,
               core::Reply reply);

  // A recorded streamed body with its recorded gaps (--stream-timing
  // as-recorded): the head, then each piece when its time comes.
  asio::awaitable<void> ReplayPaced(int32_t id, std::shared_ptr<Stream> stream,
                                    core::Reply reply);

  // A reply held for its first-byte delay.
  asio::awaitable<void> AnswerLater(int32_t id, std::shared_ptr<Stream> stream,
                                    core::Reply reply);

  // Sends the request upstream (HTTP/2 when the origin speaks it, else
  // HTTP/1.1) and relays or answers what comes back; a streaming request's
  // body follows as it arrives.
  asio::awaitable<void> Forward(int32_t id, std::shared_ptr<Stream> stream,
                                core::Forward ticket, core::UrlParts url);

  void AnswerError(int32_t id, Stream& stream, int status,
                   absl::string_view code, std::string message);

  // Submits `response` on stream `id`. `error`: the X-Matgto-Error code when
  // the response is matgto's own; a gRPC client then gets it as a gRPC
  // status (UNAVAILABLE, the explanation in grpc-message).
  void Answer(int32_t id, Stream& stream,
              std::shared_ptr<const core::HttpResponse> response,
              absl::string_view error);

  // :status and the fields of `response` that HTTP/2 carries.
  static void HeadFields(const core::HttpResponse& response, NvList& nv);

  static void SubmitTrailers(nghttp2_session* session, int32_t id,
                             const core::Headers& trailers, uint32_t* flags);

  static ssize_t ReadResponseBody(nghttp2_session* session, int32_t id,
                                  uint8_t* buf, size_t length, uint32_t* flags,
                                  nghttp2_data_source* source, void*);

  // nghttp2's callbacks, while bytes read from the client are fed to it:
  // they only note what arrived (ready_, moved_); ProcessReady acts on it.
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                            void* user);

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t, void* user);

  static int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data,
                    size_t len, void* user);

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user);

  static int OnClose(nghttp2_session*, int32_t id, uint32_t, void* user);

  // A streaming request the client reset (or sent too much of): its
  // upstream stream is reset, and a forward waiting for its end ends.
  void Abandon(int32_t, Stream& stream);

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

}  // namespace matgto::proxy::h2
