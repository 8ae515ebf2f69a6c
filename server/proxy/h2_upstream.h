// matgto's HTTP/2 connections to upstreams (h2.cc asks them for the
// streams its clients send): ALPN h2 on TLS, prior knowledge on h2c with a
// fallback to HTTP/1.1, responses relayed to the client stream as they
// arrive (H2Relay). Internal to the proxy.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <vector>

#include "server/core/http.h"
#include "server/core/url.h"
#include "server/proxy/h2.h"
#include "server/proxy/h2_peer.h"
#include "server/proxy/upstream.h"

namespace matgto::proxy::h2 {

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
  // Once the last piece was relayed: the whole response (its trailers end
  // the client's stream) is recorded before the client sees the end. Null
  // when the body was not kept (passed through, or too large to store);
  // `trailers` end the client's stream either way.
  virtual bool EndNow(const core::HttpResponse* whole,
                      const core::Headers& trailers,
                      const core::ExchangeTiming& timing) = 0;
  // As ResponseRelay's: whether the body is kept, and where it goes once
  // large.
  virtual bool KeepBody() const { return true; }
  virtual core::BodySpooler* Spooler() const { return nullptr; }
};

// A request body still arriving from the client (a gRPC call forwarded at
// its headers): Fetch sends what the request's body holds so far and waits
// for more until `ended`. The client side appends to the body, then calls
// `more` (set by Fetch while it runs); `aborted` (with `ended`): the client
// left, the upstream stream is reset.
struct RequestFeed {
  bool ended = false;
  bool aborted = false;
  std::function<void()> more{};
};

// Whether an HTTP/2 response is relayed as it arrives: a gRPC call, an
// event stream, a body whose length is not announced, or one announced
// larger than kRelayBodyBytes.
bool RelayedOverH2(const core::HttpResponse& head);

// One HTTP/2 connection to an upstream, shared by the streams of one client
// connection that go to the same origin. Lives on that connection's strand.
class UpstreamH2 {
 public:
  static std::unique_ptr<UpstreamH2> Create(Tasks& tasks,
                                            const H2Context& context);
  virtual ~UpstreamH2() = default;
  // False once the connection broke or was refused: a new one is needed.
  virtual bool Usable() const = 0;
  // One exchange. nullopt: the origin does not speak HTTP/2 (it did not
  // negotiate h2 on TLS, or answered the h2c preface with HTTP/1.x): the
  // caller sends it over HTTP/1.1. With `relay`, a response RelayedOverH2
  // goes to it as it arrives (the upstream timeout then applies between
  // its pieces).
  // With `feed`, the request's body streams: each response piece records
  // how much of it had been sent (BodyChunk::request_bytes).
  virtual boost::asio::awaitable<std::optional<FetchOutcome>> Fetch(
      const core::HttpRequest& request, const core::UrlParts& url,
      H2Relay* relay, RequestFeed* feed = nullptr) = 0;
  // Closes the connection: every Fetch in flight ends with an error.
  virtual void Cancel() = 0;
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

}  // namespace matgto::proxy::h2
