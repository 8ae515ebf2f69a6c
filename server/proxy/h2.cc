#include "server/proxy/h2.h"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/grpc.h"
#include "server/core/url.h"
#include "server/proxy/coro.h"
#include "server/proxy/upstream.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using ErrorCode = beast::error_code;

constexpr absl::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// Streams a client may have open at once, and the flow-control windows we
// grant (large: the whole body is read before anything else happens).
constexpr uint32_t kMaxConcurrentStreams = 100;
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 16 << 20;
// Response headers an upstream may send (as HTTP/1.1 upstreams, upstream.cc).
constexpr size_t kMaxUpstreamHeaderBytes = 256 * 1024;
// gRPC status UNAVAILABLE: what a gRPC client gets when matgto itself cannot
// answer (a replay miss, an unreachable upstream). Not NOT_FOUND, which a
// service may return on its own and a test may expect.
constexpr absl::string_view kGrpcUnavailable = "14";

// ---------------------------------------------------------------------------
// A byte stream the HTTP/2 sessions read and write, whatever lies beneath.

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual asio::awaitable<std::pair<ErrorCode, size_t>> ReadSome(
      asio::mutable_buffer buffer) = 0;
  virtual asio::awaitable<ErrorCode> Write(asio::const_buffer buffer) = 0;
  virtual beast::tcp_stream& Tcp() = 0;
  void Close() {
    ErrorCode ignored;
    Tcp().socket().close(ignored);
  }
};

beast::tcp_stream& LowestOf(beast::tcp_stream& s) { return s; }
template <class Next>
beast::tcp_stream& LowestOf(asio::ssl::stream<Next>& s) {
  return s.next_layer();
}

// S is a stream type (owned) or a reference to one (borrowed).
template <class S>
class StreamOf final : public ByteStream {
 public:
  template <class... A>
  explicit StreamOf(A&&... args) : s_(std::forward<A>(args)...) {}
  asio::awaitable<std::pair<ErrorCode, size_t>> ReadSome(
      asio::mutable_buffer buffer) override {
    auto [ec, n] = co_await s_.async_read_some(buffer, kAwait);
    co_return std::pair<ErrorCode, size_t>(ec, n);
  }
  asio::awaitable<ErrorCode> Write(asio::const_buffer buffer) override {
    auto [ec, n] = co_await asio::async_write(s_, buffer, kAwait);
    co_return ec;
  }
  beast::tcp_stream& Tcp() override { return LowestOf(s_); }

 private:
  S s_;
};

// ---------------------------------------------------------------------------
// The coroutines of one client connection, counted: ServeH2 returns only
// once all of them ended (they use the connection's objects).

class Tasks {
 public:
  explicit Tasks(asio::any_io_executor executor)
      : executor_(executor), all_done_(executor) {}

  void Spawn(asio::awaitable<void> task) {
    ++count_;
    asio::co_spawn(executor_, std::move(task), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "matgto: HTTP/2 task ended by exception: %s\n",
                       ex.what());
        }
      }
      if (--count_ == 0) all_done_.cancel();
    });
  }
  asio::awaitable<void> AllDone() {
    while (count_ > 0) {
      all_done_.expires_at(asio::steady_timer::time_point::max());
      co_await all_done_.async_wait(kAwait);
    }
  }
  const asio::any_io_executor& executor() const { return executor_; }

 private:
  asio::any_io_executor executor_;
  asio::steady_timer all_done_;
  int count_ = 0;
};

// ---------------------------------------------------------------------------
// nghttp2 helpers.

struct SessionDeleter {
  void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* c) const {
    nghttp2_session_callbacks_del(c);
  }
};
using CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter>;

absl::string_view View(const uint8_t* data, size_t n) {
  return absl::string_view(reinterpret_cast<const char*>(data), n);
}

// Name/value pairs for a submit call, which copies them (NV_FLAG_NONE):
// they need to live only until it returns.
class NvList {
 public:
  void Add(absl::string_view name, absl::string_view value) {
    nv_.push_back(nghttp2_nv{Bytes(name), Bytes(value), name.size(),
                             value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  // HTTP/2 field names are lower case; recorded HTTP/1.1 ones may not be.
  void AddLowered(absl::string_view name, absl::string_view value) {
    Add(owned_.emplace_back(absl::AsciiStrToLower(name)), value);
  }
  void AddOwned(absl::string_view name, std::string value) {
    Add(name, owned_.emplace_back(std::move(value)));
  }
  const nghttp2_nv* data() const { return nv_.data(); }
  size_t size() const { return nv_.size(); }

 private:
  static uint8_t* Bytes(absl::string_view s) {
    return reinterpret_cast<uint8_t*>(const_cast<char*>(s.data()));
  }
  std::vector<nghttp2_nv> nv_;
  std::deque<std::string> owned_;
};

// Fields that HTTP/2 forbids (connection-specific, RFC 9113 8.2.2) or that
// this hop replaces (Host becomes :authority; proxy credentials stay here).
bool NotForH2(absl::string_view name, absl::string_view value) {
  for (absl::string_view n :
       {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
        "upgrade", "host", "http2-settings", "proxy-authorization"}) {
    if (absl::EqualsIgnoreCase(name, n)) return true;
  }
  if (absl::EqualsIgnoreCase(name, "te")) {
    return !absl::EqualsIgnoreCase(value, "trailers");
  }
  return name.empty() || name.front() == ':';
}

// grpc-message is percent-encoded (gRPC over HTTP/2 spec): every byte
// outside printable ASCII, and '%'.
std::string GrpcMessage(absl::string_view text) {
  constexpr size_t kMax = 2048;  // clients cap metadata at a few KiB
  if (text.size() > kMax) text = text.substr(0, kMax);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

std::string PathOf(const core::UrlParts& url) {
  return url.has_query ? absl::StrCat(url.path, "?", url.query) : url.path;
}

// ---------------------------------------------------------------------------
// What both sides share: a session, the bytes it wants written, and a
// writer that sends them (one write at a time; reads go on meanwhile).

class Peer {
 public:
  explicit Peer(Tasks& tasks) : tasks_(tasks) {}
  virtual ~Peer() = default;
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

 protected:
  // Starts the writer unless it is running (it then sends what was queued
  // meanwhile before it stops).
  void Flush() {
    if (writing_ || broken_ || stream_ == nullptr || session_ == nullptr) {
      return;
    }
    if (nghttp2_session_want_write(session_.get()) == 0) return;
    writing_ = true;
    tasks_.Spawn(WriteLoop());
  }

  // Feeds bytes read from the peer; false when they broke the protocol (a
  // GOAWAY is then queued: Flush sends it).
  bool Receive(const void* data, size_t n) {
    const ssize_t used = nghttp2_session_mem_recv(
        session_.get(), static_cast<const uint8_t*>(data), n);
    if (used < 0) {
      nghttp2_session_terminate_session(session_.get(), NGHTTP2_PROTOCOL_ERROR);
      return false;
    }
    return true;
  }

  bool Done() const {
    return nghttp2_session_want_read(session_.get()) == 0 &&
           nghttp2_session_want_write(session_.get()) == 0;
  }

  Tasks& tasks_;
  std::unique_ptr<ByteStream> stream_;
  SessionPtr session_;
  bool broken_ = false;

 private:
  asio::awaitable<void> WriteLoop() {
    for (;;) {
      out_.clear();
      while (out_.size() < 64 * 1024) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
        if (n < 0) {
          broken_ = true;
          break;
        }
        if (n == 0) break;
        out_.append(reinterpret_cast<const char*>(data),
                    static_cast<size_t>(n));
      }
      if (out_.empty()) break;
      const ErrorCode ec = co_await stream_->Write(asio::buffer(out_));
      if (ec) {
        broken_ = true;
        break;
      }
    }
    writing_ = false;
  }

  bool writing_ = false;
  std::string out_;
};

// ---------------------------------------------------------------------------
// The client stream a response is relayed to as it arrives (a gRPC call,
// an event stream, a body of unknown length). Called on the strand, from
// the upstream session's callbacks: each returns false once the client's
// stream is gone.
class H2Relay {
 public:
  virtual ~H2Relay() = default;
  virtual bool HeadNow(const core::HttpResponse& head) = 0;
  virtual bool PieceNow(absl::string_view bytes) = 0;
  // The whole response (its trailers end the client's stream), once the
  // last piece was relayed: it is recorded before the client sees the end.
  virtual bool EndNow(const core::HttpResponse& whole,
                      const core::ExchangeTiming& timing) = 0;
};

// Whether an HTTP/2 response is relayed as it arrives: a gRPC call, an
// event stream, or a body whose length is not announced.
bool RelayedOverH2(const core::HttpResponse& head) {
  const std::string* type = core::FindHeader(head.headers, "content-type");
  if (type != nullptr &&
      (absl::StartsWithIgnoreCase(*type, "application/grpc") ||
       absl::StartsWithIgnoreCase(*type, "text/event-stream"))) {
    return true;
  }
  return core::FindHeader(head.headers, "content-length") == nullptr;
}

// ---------------------------------------------------------------------------
// One HTTP/2 connection to an upstream, shared by the streams of one client
// connection that go to the same origin.

class UpstreamH2 final : public Peer {
 public:
  UpstreamH2(Tasks& tasks, const H2Context& context)
      : Peer(tasks), context_(context), connected_(tasks.executor()) {}

  // False once the connection broke or was refused: a new one is needed.
  bool Usable() const { return state_ != State::kDead; }

  // One exchange. nullopt: the origin did not negotiate h2 on TLS (the
  // caller sends it over HTTP/1.1).
  // With `relay`, a response RelayedOverH2 goes to it as it arrives (the
  // upstream timeout then applies between its pieces).
  asio::awaitable<std::optional<FetchOutcome>> Fetch(
      const core::HttpRequest& request, const core::UrlParts& url,
      H2Relay* relay) {
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
    stream->relay = relay;
    nghttp2_data_provider body{};
    body.source.ptr = this;
    body.read_callback = &UpstreamH2::ReadRequestBody;
    out.timing.started_at = absl::Now();
    const int32_t id =
        nghttp2_submit_request(session_.get(), nullptr, nv.data(), nv.size(),
                               request.body.empty() ? nullptr : &body, nullptr);
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
      out.client_gone = !relay->EndNow(*out.response, out.timing);
    }
    co_return out;
  }

  // Closes the connection: every Fetch in flight ends with an error.
  void Cancel() {
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
    size_t sent = 0;
    core::HttpResponse response;
    H2Relay* relay = nullptr;
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
    nghttp2_session_callbacks_set_on_header_callback(callbacks.get(),
                                                     &UpstreamH2::OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks.get(),
                                                         &UpstreamH2::OnFrame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks.get(), &UpstreamH2::OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks.get(), &UpstreamH2::OnClose);
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
    auto* self = static_cast<UpstreamH2*>(source->ptr);
    Stream* stream = self->Find(id);
    if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::string& body = stream->request->body;
    const size_t n = std::min(length, body.size() - stream->sent);
    std::memcpy(buf, body.data() + stream->sent, n);
    stream->sent += n;
    if (stream->sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t, void* user) {
    auto* self = static_cast<UpstreamH2*>(user);
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
    auto* self = static_cast<UpstreamH2*>(user);
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
    auto* self = static_cast<UpstreamH2*>(user);
    Stream* stream = self->Find(id);
    if (stream == nullptr || stream->too_large) return 0;
    std::string& body = stream->response.body;
    if (body.size() + len > self->context_.config->max_body_bytes) {
      stream->too_large = true;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      return 0;
    }
    body.append(reinterpret_cast<const char*>(data), len);
    if (stream->relaying && !stream->client_gone) {
      stream->chunks.push_back({len, absl::Now() - stream->first_byte});
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
    auto* self = static_cast<UpstreamH2*>(user);
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

// The upstream connections of one client connection to one origin.
struct OriginLinks {
  std::vector<std::unique_ptr<UpstreamH2>> h2;  // the last one is current
  // The origin did not negotiate h2: HTTP/1.1 connections, one per
  // exchange in flight, kept for the next ones.
  bool http11 = false;
  std::list<UpstreamClient> h1;
  std::vector<UpstreamClient*> h1_idle;
};

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
  };

  // Relays an upstream's response to client stream `id` as it arrives,
  // from an HTTP/2 upstream (H2Relay, synchronous) or an HTTP/1.1 one
  // (ResponseRelay); `on_whole` records the exchange before the client gets
  // the end of the body.
  class StreamRelay final : public H2Relay, public ResponseRelay {
   public:
    using OnWhole = std::function<void(const core::HttpResponse&,
                                       const core::ExchangeTiming&)>;
    StreamRelay(ServerH2& server, int32_t id, std::shared_ptr<Stream> stream,
                OnWhole on_whole)
        : server_(server),
          id_(id),
          stream_(std::move(stream)),
          on_whole_(std::move(on_whole)) {}

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
    bool EndNow(const core::HttpResponse& whole,
                const core::ExchangeTiming& timing) override {
      on_whole_(whole, timing);
      if (!Alive()) return false;
      stream_->trailers = whole.trailers;
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
      if (whole != nullptr) co_return EndNow(*whole, timing);
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
  }

  // A complete request: the session decides, as for HTTP/1.1.
  void Process(int32_t id, const std::shared_ptr<Stream>& stream) {
    core::HttpRequest& request = stream->request;
    request.version = 20;
    stream->head = request.method == "HEAD";
    if (request.method == "CONNECT") {
      AnswerError(id, *stream, 501, "h2-connect-unsupported",
                  "matgto: CONNECT over HTTP/2 (WebSocket over HTTP/2, RFC "
                  "8441) is not supported; use HTTP/1.1 for WebSockets");
      return;
    }
    std::string url;
    if (context_.origin.has_value()) {
      const H2Context::Origin& o = *context_.origin;
      url = absl::StrCat(o.scheme, "://", core::HostPort(o.host, o.port),
                         stream->path);
    } else if (!stream->scheme.empty() && !stream->authority.empty()) {
      url =
          absl::StrCat(stream->scheme, "://", stream->authority, stream->path);
    } else {
      AnswerError(id, *stream, 400, "not-a-proxy-request",
                  "matgto: an HTTP/2 request to the proxy itself needs "
                  ":scheme and :authority naming the origin");
      return;
    }
    absl::StatusOr<core::UrlParts> parts = core::ParseAbsoluteUrl(url);
    if (!parts.ok() || (parts->scheme != "http" && parts->scheme != "https")) {
      AnswerError(id, *stream, 400, "bad-request",
                  absl::StrCat("matgto: bad request target '", url, "'",
                               parts.ok() ? "" : ": ",
                               parts.ok() ? "" : parts.status().message()));
      return;
    }
    core::FormatUrlTo(*parts, request.url);
    core::Decision decision =
        context_.handler->OnRequest(context_.route, request);
    if (auto* reply = std::get_if<core::Reply>(&decision)) {
      Deliver(id, stream, std::move(*reply));
      return;
    }
    tasks_.Spawn(Forward(id, stream, std::get<core::Forward>(decision),
                         *std::move(parts)));
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
        *this, id, stream,
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
    relay.EndNow(r, core::ExchangeTiming{});
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
    StreamRelay relay(*this, id, stream,
                      [&](const core::HttpResponse& whole,
                          const core::ExchangeTiming& timing) {
                        handler.OnForwarded(ticket, request, whole, timing);
                      });
    std::optional<FetchOutcome> outcome;
    if (try_h2 && !links.http11) {
      if (links.h2.empty() || !links.h2.back()->Usable()) {
        links.h2.push_back(std::make_unique<UpstreamH2>(tasks_, context_));
      }
      UpstreamH2* h2 = links.h2.back().get();
      outcome =
          co_await h2->Fetch(request, url, stream->head ? nullptr : &relay);
      if (!outcome.has_value()) links.http11 = true;
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
        handler.OnForwardFailed(ticket, request, "response-too-large-to-store");
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
      nv.AddOwned("grpc-message", GrpcMessage(response->body));
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
    if (stream == nullptr || stream->answered) return 0;
    std::string& body = stream->request.body;
    if (body.size() + len > self->context_.config->max_body_bytes) {
      self->AnswerError(id, *stream, 413, "body-too-large",
                        absl::StrCat("matgto: request body exceeds ",
                                     self->context_.config->max_body_bytes,
                                     " bytes (--max-body-bytes)"));
      return 0;
    }
    body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = static_cast<ServerH2*>(user);
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      Stream* stream = self->Find(frame->hd.stream_id);
      if (stream != nullptr && !stream->answered) {
        self->ready_.push_back(frame->hd.stream_id);
      }
    }
    return 0;
  }

  static int OnClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
    auto* self = static_cast<ServerH2*>(user);
    auto it = self->streams_.find(id);
    if (it == self->streams_.end()) return 0;
    if (it->second->delay.has_value()) it->second->delay->cancel();
    self->streams_.erase(it);
    return 0;
  }

  H2Context context_;
  std::map<int32_t, std::shared_ptr<Stream>> streams_;
  // Streams whose request is complete, handled after the bytes that
  // completed them are consumed (not inside nghttp2's callbacks).
  std::vector<int32_t> ready_;
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

bool LooksLikeH2Preface(absl::string_view bytes) {
  if (bytes.size() < 4) return false;
  const size_t n = std::min(bytes.size(), kPreface.size());
  return bytes.substr(0, n) == kPreface.substr(0, n);
}

asio::awaitable<void> ServeH2(beast::tcp_stream& stream,
                              beast::flat_buffer& pending, H2Context context) {
  co_await Serve(stream, pending, std::move(context));
}

asio::awaitable<void> ServeH2(asio::ssl::stream<beast::tcp_stream&>& stream,
                              beast::flat_buffer& pending, H2Context context) {
  co_await Serve(stream, pending, std::move(context));
}

}  // namespace matgto::proxy
