#include "server/proxy/h2_upstream.h"

#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "server/proxy/kept_body.h"
#include "server/proxy/wire.h"

namespace matgto::proxy::h2 {
namespace {

// Response headers an upstream may send (as HTTP/1.1 upstreams, upstream.cc).
constexpr size_t kMaxUpstreamHeaderBytes = 256 * 1024;

// ---------------------------------------------------------------------------
// One HTTP/2 connection to an upstream, shared by the streams of one client
// connection that go to the same origin.

class UpstreamH2Session final : public UpstreamH2, public Peer {
 public:
  UpstreamH2Session(Tasks& tasks, const H2Context& context)
      : Peer(tasks), context_(context), connected_(tasks.executor()) {}

  // False once the connection broke or was refused: a new one is needed.
  bool Usable() const override { return state_ != State::kDead; }

  // One exchange. nullopt: the origin did not negotiate h2 on TLS (the
  // caller sends it over HTTP/1.1).
  // With `relay`, a response RelayedOverH2 goes to it as it arrives (the
  // upstream timeout then applies between its pieces).
  asio::awaitable<std::optional<FetchOutcome>> Fetch(
      const core::HttpRequest& request, const core::UrlParts& url,
      H2Relay* relay, RequestFeed* feed) override {
    FetchOutcome out;
    if (state_ == State::kNew) {
      state_ = State::kConnecting;
      co_await Connect(url);
      connected_.cancel();
    }
    while (state_ == State::kConnecting) {
      connected_.expires_at(asio::steady_timer::time_point::max());
      co_await connected_.async_wait(kAwait);
    }
    if (state_ == State::kHttp11) co_return std::nullopt;
    if (state_ != State::kOpen) {
      co_return connect_error_.error_code.empty() ? Lost() : connect_error_;
    }

    NvList nv;
    nv.Add(":method", request.method);
    nv.Add(":scheme", url.scheme == "https" ? "https" : "http");
    nv.AddOwned(":authority", HostFor(url));
    nv.AddOwned(":path", PathOf(url));
    for (const core::Header& h : request.headers) {
      if (!NotForH2(h.name, h.value)) nv.AddLowered(h.name, h.value);
    }
    auto stream = std::make_shared<Stream>(tasks_.executor());
    stream->request = &request;
    stream->authority = core::HostPort(url.host, url.port);
    stream->relay = relay;
    stream->feed = feed;
    nghttp2_data_provider body{};
    body.source.ptr = this;
    body.read_callback = &UpstreamH2Session::ReadRequestBody;
    out.timing.started_at = absl::Now();
    const int32_t id = nghttp2_submit_request(
        session_.get(), nullptr, nv.data(), nv.size(),
        request.body.empty() && feed == nullptr ? nullptr : &body, nullptr);
    if (id < 0) {
      state_ = State::kDead;
      out.error_status = 502;
      out.error_code = "upstream-h2-error";
      out.error_message =
          absl::StrCat("matgto: cannot open an HTTP/2 stream to the upstream: ",
                       nghttp2_strerror(id));
      co_return out;
    }
    streams_[id] = stream;
    // Unset again on every way out (the feed outlives this call).
    struct Unfeed {
      RequestFeed* feed;
      ~Unfeed() {
        if (feed != nullptr) feed->more = nullptr;
      }
    } unfeed{feed};
    if (feed != nullptr) {
      feed->more = [this, id] {
        if (session_ == nullptr || broken_) return;
        nghttp2_session_resume_data(session_.get(), id);
        Flush();
      };
    }
    Flush();
    stream->done_timer.expires_after(Chrono(context_.config->upstream_timeout));
    while (!stream->done) {
      auto [ec] = co_await stream->done_timer.async_wait(kAwait);
      if (!ec && !stream->done) {  // the deadline, not a wake-up
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id,
                                  NGHTTP2_CANCEL);
        Flush();
        streams_.erase(id);
        out.error_status = 504;
        out.error_code = "upstream-timeout";
        out.error_message = absl::StrCat(
            "matgto: no complete response from the upstream within ",
            absl::FormatDuration(context_.config->upstream_timeout),
            " (--upstream-timeout)");
        co_return out;
      }
    }
    streams_.erase(id);
    if (stream->http11) co_return std::nullopt;
    const absl::Time end = absl::Now();
    out.relayed = stream->relaying;
    if (stream->client_gone) {
      // What arrived before the client left (the caller may keep the
      // complete events of an event stream).
      out.client_gone = true;
      stream->response.version = 20;
      stream->response.chunks = std::move(stream->chunks);
      out.response = std::move(stream->response);
      co_return out;
    }
    if (stream->too_large) {
      out.error_status = 502;
      out.error_code = "upstream-body-too-large";
      out.error_message = absl::StrCat(
          "matgto: the upstream's response body exceeds ",
          context_.config->max_body_bytes, " bytes (--max-body-bytes)");
      co_return out;
    }
    if (!stream->final_headers || stream->error_code != NGHTTP2_NO_ERROR) {
      if (stream->lost) co_return Lost();
      out.error_status = 502;
      out.error_code = "upstream-h2-error";
      out.error_message =
          absl::StrCat("matgto: the upstream reset the HTTP/2 stream (",
                       nghttp2_http2_strerror(stream->error_code), ")");
      co_return out;
    }
    stream->response.version = 20;
    out.timing.time_to_first_byte = stream->first_byte - out.timing.started_at;
    out.timing.total = end - out.timing.started_at;
    stream->response.chunks = std::move(stream->chunks);
    out.response = std::move(stream->response);
    if (stream->relaying) {
      out.ended = true;
      out.timing.relayed_bytes = stream->relayed_bytes;
      stream->kept->Finish(*out.response);
      out.not_stored = stream->kept->NotStored();
      const bool stored = stream->kept->keeping();
      if (!stored) out.response->chunks.clear();
      out.client_gone = !relay->EndNow(stored ? &*out.response : nullptr,
                                       out.response->trailers, out.timing);
    }
    co_return out;
  }

  // Closes the connection: every Fetch in flight ends with an error.
  void Cancel() override {
    cancelled_ = true;
    if (stream_ != nullptr) stream_->Close();
    connected_.cancel();
    FailAll();
  }

 private:
  enum class State { kNew, kConnecting, kOpen, kHttp11, kDead };

  struct Stream {
    explicit Stream(const asio::any_io_executor& executor)
        : done_timer(executor) {}
    const core::HttpRequest* request = nullptr;
    std::string authority;  // host:port, for messages
    size_t sent = 0;
    core::HttpResponse response;
    H2Relay* relay = nullptr;
    // Set when the request body streams (see RequestFeed).
    RequestFeed* feed = nullptr;
    // The response goes to `relay` as it arrives; its pieces' timing.
    bool relaying = false;
    bool client_gone = false;
    std::vector<core::BodyChunk> chunks;
    size_t header_bytes = 0;
    bool final_headers = false;
    bool done = false;
    bool lost = false;
    // The upstream turned out to speak HTTP/1.1 only (h2c refused).
    bool http11 = false;
    bool too_large = false;
    // While relaying: the body as it is kept to be recorded, and its size.
    std::optional<KeptBody> kept;
    uint64_t relayed_bytes = 0;
    uint32_t error_code = NGHTTP2_NO_ERROR;
    absl::Time first_byte;
    asio::steady_timer done_timer;
  };

  FetchOutcome Lost() const {
    FetchOutcome out;
    out.error_status = 502;
    out.error_code = "upstream-closed";
    out.error_message =
        "matgto: the upstream closed the HTTP/2 connection before the "
        "response was complete";
    return out;
  }

  asio::awaitable<void> Connect(const core::UrlParts& url) {
    const bool https = url.scheme == "https";
    UpstreamClient connector(tasks_.executor(), *context_.config,
                             context_.upstream_tls, context_.verify_upstream);
    std::optional<UpstreamClient::RawConnection> raw =
        co_await connector.TakeConnection(url, connect_error_,
                                          /*offer_h2=*/https);
    if (!raw.has_value() || cancelled_) {
      state_ = State::kDead;
      if (connect_error_.error_code.empty()) connect_error_ = Lost();
      co_return;
    }
    if (https) {
      auto& tls = std::get<1>(*raw);
      const unsigned char* alpn = nullptr;
      unsigned int len = 0;
      SSL_get0_alpn_selected(tls.native_handle(), &alpn, &len);
      if (len != 2 || std::memcmp(alpn, "h2", 2) != 0) {
        state_ = State::kHttp11;
        co_return;
      }
      stream_ =
          std::make_unique<StreamOf<asio::ssl::stream<beast::tcp_stream>>>(
              std::move(tls));
    } else {
      stream_ = std::make_unique<StreamOf<beast::tcp_stream>>(
          std::move(std::get<0>(*raw)));
    }
    stream_->Tcp().expires_never();

    nghttp2_session_callbacks* raw_callbacks = nullptr;
    nghttp2_session_callbacks_new(&raw_callbacks);
    CallbacksPtr callbacks(raw_callbacks);
    nghttp2_session_callbacks_set_on_header_callback(
        callbacks.get(), &UpstreamH2Session::OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks.get(), &UpstreamH2Session::OnFrame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks.get(), &UpstreamH2Session::OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks.get(), &UpstreamH2Session::OnClose);
    nghttp2_session* session = nullptr;
    nghttp2_session_client_new(&session, callbacks.get(), this);
    session_.reset(session);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings,
                            std::size(settings));
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                          kConnectionWindow);
    state_ = State::kOpen;
    tasks_.Spawn(ReadLoop());
    Flush();
  }

  asio::awaitable<void> ReadLoop() {
    std::array<char, 16 * 1024> data;
    bool first = true;
    while (!broken_) {
      auto [ec, n] = co_await stream_->ReadSome(asio::buffer(data));
      if (ec) break;
      // An HTTP/2 server's first frame is SETTINGS (RFC 9113 3.4); anything
      // else is an HTTP/1.x server answering our h2c preface (prior
      // knowledge was a guess, "HTTP/1.1 400..." or an error page): it
      // processed no request, so every stream goes again over HTTP/1.1.
      if (first && n >= 4 && data[3] != NGHTTP2_SETTINGS) {
        state_ = State::kHttp11;
        FailAll(/*http11=*/true);
        stream_->Close();
        co_return;
      }
      first = false;
      if (!Receive(data.data(), n)) break;
      Flush();
      if (Done()) break;
    }
    state_ = State::kDead;
    FailAll();
    stream_->Close();
  }

  void FailAll(bool http11 = false) {
    for (auto& [id, stream] : streams_) {
      if (stream->done) continue;
      stream->done = true;
      stream->lost = true;
      stream->http11 = http11;
      stream->error_code = NGHTTP2_CANCEL;
      stream->done_timer.cancel();
    }
  }

  Stream* Find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  static ssize_t ReadRequestBody(nghttp2_session*, int32_t id, uint8_t* buf,
                                 size_t length, uint32_t* flags,
                                 nghttp2_data_source* source, void*) {
    auto* self = static_cast<UpstreamH2Session*>(source->ptr);
    Stream* stream = self->Find(id);
    if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const RequestFeed* feed = stream->feed;
    if (feed != nullptr && feed->aborted) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    }
    const std::string& body = stream->request->body;
    const size_t n = std::min(length, body.size() - stream->sent);
    if (n == 0 && feed != nullptr && !feed->ended) {
      return NGHTTP2_ERR_DEFERRED;  // `more` resumes it
    }
    std::memcpy(buf, body.data() + stream->sent, n);
    stream->sent += n;
    if (stream->sent == body.size() && (feed == nullptr || feed->ended)) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return static_cast<ssize_t>(n);
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t, void* user) {
    auto* self = static_cast<UpstreamH2Session*>(user);
    Stream* stream = self->Find(frame->hd.stream_id);
    if (stream == nullptr) return 0;
    stream->header_bytes += namelen + valuelen + 32;
    if (stream->header_bytes > kMaxUpstreamHeaderBytes) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    const absl::string_view n = View(name, namelen);
    const absl::string_view v = View(value, valuelen);
    core::HttpResponse& r = stream->response;
    if (!stream->final_headers) {
      if (n == ":status") {
        int status = 0;
        if (absl::SimpleAtoi(v, &status)) r.status = status;
      } else if (!n.empty() && n.front() != ':') {
        r.headers.push_back({std::string(n), std::string(v)});
      }
    } else if (!n.empty() && n.front() != ':') {
      r.trailers.push_back({std::string(n), std::string(v)});
    }
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = static_cast<UpstreamH2Session*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* stream = self->Find(frame->hd.stream_id);
    if (stream == nullptr || stream->final_headers) return 0;
    if (stream->response.status >= 200) {
      stream->final_headers = true;
      stream->first_byte = absl::Now();
      // (Not a response that ends with its headers, e.g. gRPC's
      // trailers-only: it goes whole, its END_STREAM on its HEADERS.)
      if (stream->relay != nullptr &&
          (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0 &&
          RelayedOverH2(stream->response)) {
        stream->relaying = true;
        stream->kept.emplace(*self->context_.config, stream->relay->KeepBody(),
                             stream->relay->Spooler());
        if (!stream->relay->HeadNow(stream->response)) {
          self->ClientLeft(frame->hd.stream_id, *stream);
        }
      }
    } else {  // an interim (1xx) response: the final one follows
      stream->response.status = 0;
      stream->response.headers.clear();
    }
    return 0;
  }

  static int OnData(nghttp2_session* session, uint8_t, int32_t id,
                    const uint8_t* data, size_t len, void* user) {
    auto* self = static_cast<UpstreamH2Session*>(user);
    Stream* stream = self->Find(id);
    if (stream == nullptr || stream->too_large) return 0;
    if (stream->relaying) {
      // Passed on whole; kept (in memory, then spooled) within the limit on
      // what is stored.
      stream->relayed_bytes += len;
      stream->kept->Add(
          std::string_view(reinterpret_cast<const char*>(data), len),
          stream->response, stream->authority);
      if (!stream->kept->keeping()) stream->chunks.clear();
    } else {
      std::string& body = stream->response.body;
      if (body.size() + len > self->context_.config->max_body_bytes) {
        stream->too_large = true;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id,
                                  NGHTTP2_CANCEL);
        return 0;
      }
      body.append(reinterpret_cast<const char*>(data), len);
    }
    if (stream->relaying && !stream->client_gone) {
      if (stream->kept->keeping()) {
        stream->chunks.push_back({len, absl::Now() - stream->first_byte,
                                  stream->feed != nullptr
                                      ? std::optional<uint64_t>(stream->sent)
                                      : std::nullopt});
      }
      if (!stream->relay->PieceNow(View(data, len))) {
        self->ClientLeft(id, *stream);
      } else {
        // A stream's deadline is between its pieces.
        stream->done_timer.expires_after(
            Chrono(self->context_.config->upstream_timeout));
      }
    }
    return 0;
  }

  // The client's stream is gone: the upstream's is cancelled.
  void ClientLeft(int32_t id, Stream& stream) {
    stream.client_gone = true;
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id,
                              NGHTTP2_CANCEL);
  }

  static int OnClose(nghttp2_session*, int32_t id, uint32_t error_code,
                     void* user) {
    auto* self = static_cast<UpstreamH2Session*>(user);
    Stream* stream = self->Find(id);
    if (stream == nullptr || stream->done) return 0;
    stream->done = true;
    stream->error_code = error_code;
    stream->done_timer.cancel();
    return 0;
  }

  const H2Context& context_;
  State state_ = State::kNew;
  bool cancelled_ = false;
  FetchOutcome connect_error_;
  asio::steady_timer connected_;
  std::map<int32_t, std::shared_ptr<Stream>> streams_;
};

}  // namespace

bool RelayedOverH2(const core::HttpResponse& head) {
  const std::string* type = core::FindHeader(head.headers, "content-type");
  if (type != nullptr &&
      (absl::StartsWithIgnoreCase(*type, "application/grpc") ||
       absl::StartsWithIgnoreCase(*type, "text/event-stream"))) {
    return true;
  }
  const std::string* length = core::FindHeader(head.headers, "content-length");
  uint64_t announced = 0;
  return length == nullptr || !absl::SimpleAtoi(*length, &announced) ||
         announced > kRelayBodyBytes;
}

std::unique_ptr<UpstreamH2> UpstreamH2::Create(Tasks& tasks,
                                               const H2Context& context) {
  return std::make_unique<UpstreamH2Session>(tasks, context);
}

}  // namespace matgto::proxy::h2
