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
#include "server/proxy/h2_server.h"
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

}  // namespace

asio::awaitable<void> ServerH2::Run(beast::flat_buffer& pending) {
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  nghttp2_session_callbacks_new(&raw_callbacks);
  CallbacksPtr callbacks(raw_callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(
      callbacks.get(), &ServerH2::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks.get(),
                                                   &ServerH2::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks.get(),
                                                       &ServerH2::OnFrame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks.get(),
                                                            &ServerH2::OnData);
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
  for (auto& [id, stream] : streams_) {
    stream->delay.reset();
    // A forward waiting for the rest of its request ends too.
    if (stream->streaming) Abandon(id, *stream);
  }
  stream_->Tcp().expires_after(Chrono(context_.config->write_timeout));
  co_await tasks_.AllDone();
}

void ServerH2::ProcessReady() {
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

void ServerH2::AnswerError(int32_t id, Stream& stream, int status,
                           absl::string_view code, std::string message) {
  Answer(id, stream,
         std::make_shared<const core::HttpResponse>(
             core::MakeErrorResponse(status, code, std::move(message))),
         code);
}

void ServerH2::Answer(int32_t id, Stream& stream,
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
    nghttp2_submit_response(session_.get(), id, nv.data(), nv.size(), nullptr);
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

void ServerH2::HeadFields(const core::HttpResponse& response, NvList& nv) {
  nv.AddOwned(":status", std::to_string(response.status));
  for (const core::Header& h : response.headers) {
    if (!NotForH2(h.name, h.value)) nv.AddLowered(h.name, h.value);
  }
}

void ServerH2::SubmitTrailers(nghttp2_session* session, int32_t id,
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

ssize_t ServerH2::ReadResponseBody(nghttp2_session* session, int32_t id,
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

int ServerH2::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                             void* user) {
  auto* self = static_cast<ServerH2*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    self->streams_[frame->hd.stream_id] = std::make_shared<Stream>();
  }
  return 0;
}

int ServerH2::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                       const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t,
                       void* user) {
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

int ServerH2::OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data,
                     size_t len, void* user) {
  auto* self = static_cast<ServerH2*>(user);
  Stream* stream = self->Find(id);
  if (stream == nullptr || (stream->answered && !stream->streaming)) {
    return 0;
  }
  std::string& body = stream->request.body;
  if (body.size() + len > self->context_.config->max_body_bytes) {
    const std::string why = absl::StrCat("matgto: request body exceeds ",
                                         self->context_.config->max_body_bytes,
                                         " bytes (--max-body-bytes)");
    if (stream->streaming) {
      self->Abandon(id, *stream);
      if (stream->answered) {
        nghttp2_submit_rst_stream(self->session_.get(), NGHTTP2_FLAG_NONE, id,
                                  NGHTTP2_CANCEL);
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

int ServerH2::OnFrame(nghttp2_session*, const nghttp2_frame* frame,
                      void* user) {
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

int ServerH2::OnClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
  auto* self = static_cast<ServerH2*>(user);
  auto it = self->streams_.find(id);
  if (it == self->streams_.end()) return 0;
  if (it->second->delay.has_value()) it->second->delay->cancel();
  if (it->second->streaming) self->Abandon(id, *it->second);
  self->streams_.erase(it);
  return 0;
}

void ServerH2::Abandon(int32_t, Stream& stream) {
  stream.streaming = false;
  stream.replay.reset();
  stream.request_ended = true;
  stream.feed.ended = true;
  stream.feed.aborted = true;
  if (stream.feed.more) stream.feed.more();
  if (stream.request_whole.has_value()) stream.request_whole->cancel();
}

namespace {

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
