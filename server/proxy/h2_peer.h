// The parts both sides of matgto's HTTP/2 share (h2.cc serves clients,
// h2_upstream.cc reaches upstreams): a byte stream over TCP or TLS, the
// counted coroutines of one connection, nghttp2 helpers, and Peer -- a
// session with the writer that sends what it queues. Internal to the proxy.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/core/url.h"
#include "server/proxy/coro.h"

namespace matgto::proxy::h2 {

namespace asio = boost::asio;
namespace beast = boost::beast;
using ErrorCode = beast::error_code;

// The flow-control windows granted to peers (large: a whole body is
// usually read before anything else happens).
inline constexpr int32_t kStreamWindow = 1 << 20;
inline constexpr int32_t kConnectionWindow = 16 << 20;

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

inline beast::tcp_stream& LowestOf(beast::tcp_stream& s) { return s; }
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

inline absl::string_view View(const uint8_t* data, size_t n) {
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
inline bool NotForH2(absl::string_view name, absl::string_view value) {
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

inline std::string PathOf(const core::UrlParts& url) {
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

}  // namespace matgto::proxy::h2
