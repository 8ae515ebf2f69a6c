// The seam between the proxy (sockets, parsing, upstream I/O) and the
// record/replay decisions. The proxy calls an ExchangeHandler for every
// complete request and does exactly what the returned Decision says; it never
// knows about cassettes, modes or matching.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "server/core/delivery.h"
#include "server/core/http.h"
#include "server/core/spool.h"
#include "server/core/websocket.h"

namespace matgto::core {

// Answer the client with this response; no upstream connection is made.
struct Reply {
  std::shared_ptr<const HttpResponse> response;
  // Short machine-readable reason when the reply is an error of matgto's own
  // (it is also in the response's X-Matgto-Error header); empty otherwise.
  std::string error;
  // When and how the response reaches the client (latency, faults).
  Delivery delivery{};
  // Set for an answer to a request still arriving (OnPartialRequest): the
  // recorded request body the live one must grow into, byte for byte (null
  // when bodies are not compared). The response's pieces go out as the live
  // body reaches each one's BodyChunk::request_bytes; a live body that
  // parts from the recorded one ends the stream with an error.
  bool streamed = false;
  std::shared_ptr<const std::string> streamed_request_body{};
  // For a streamed answer: reports a live request that parted from the
  // recording (the sentence says where), as a miss of the session's.
  std::function<void(const std::string& why)> on_stream_mismatch{};
};

// Forward the request to its upstream; then call OnForwarded/OnForwardFailed
// with this ticket.
struct Forward {
  // Opaque to the proxy: identifies the session that asked for the forward
  // (which may have ended by the time the exchange completes).
  uint64_t ticket = 0;
  // How the upstream's response reaches the client (faults).
  Delivery delivery{};
  // Set when a fault changes what the client gets ("f1 delay 2s"): the
  // recording says so. Handed back with the ticket.
  std::string fault{};
  // False when the response is only passed through (passthrough mode, a
  // miss passed through): a body relayed as it arrives is then not kept.
  bool store = true;
  // Where a kept body too large to hold in memory goes (a recording with a
  // journal); null: bodies are kept in memory, up to --max-body-bytes.
  std::shared_ptr<BodySpooler> spooler{};
};

using Decision = std::variant<Reply, Forward>;
using WsDecision = std::variant<Reply, WsReplay, WsRelay>;

// Which session a request is for, as far as the proxy can tell: opaque data
// that the handler maps to one of its sessions. The proxy never learns what
// a session is.
struct Route {
  // The listener the connection arrived on: 0 for the shared proxy port,
  // else the key the listener was opened with (SessionListeners::Open).
  uint64_t listener = 0;
  // The proxy credential: the user of a `Proxy-Authorization: Basic`
  // header (sent by the request itself, or by the CONNECT that opened the
  // tunnel it travels in); for a header that is not Basic or does not
  // decode, the header's whole value. Empty when there was none.
  std::string credential;
};

// Where a CONNECT goes, and what the proxy would do with its tunnel.
struct ConnectTarget {
  std::string host;  // lower case; IPv6 without brackets
  uint16_t port = 0;
  // True when the tunnel would be relayed byte for byte (a --no-intercept
  // host, or no CA): it reaches the network and nothing in it can be
  // recorded or replayed. False: it is intercepted and every request in it
  // comes to OnRequest.
  bool relayed = false;
};

// Thread-safety: every method may be called concurrently from any proxy
// thread; none of them blocks on I/O (they take short in-memory locks only).
class ExchangeHandler {
 public:
  virtual ~ExchangeHandler() = default;

  // Called for a CONNECT with a well-formed target, before the tunnel is
  // established: a Reply refuses it (an unknown session's credential: 407;
  // a relayed tunnel where the session must not reach the network), nullopt
  // lets it through.
  virtual std::optional<Reply> OnConnect(const Route& route,
                                         const ConnectTarget& target) = 0;

  // Called once per request, after the whole request (body included) has
  // been read from the client.
  virtual Decision OnRequest(const Route& route,
                             const HttpRequest& request) = 0;

  // Called for a request whose body is still arriving and may wait for
  // answers before it sends more (a gRPC call over HTTP/2), each time more
  // of it arrived; `partial.body` is what arrived so far. nullopt: wait for
  // the whole request (OnRequest). A Forward starts the exchange now, its
  // body streamed upstream as it arrives (OnForwarded then gets the whole
  // request); a streamed Reply answers from a recording whose response was
  // interleaved with its request; any other Reply answers at once.
  virtual std::optional<Decision> OnPartialRequest(
      const Route& /*route*/, const HttpRequest& /*partial*/) {
    return std::nullopt;
  }

  // Called when a forwarded request got a complete response from upstream,
  // before that response is written to the client (so an exchange the client
  // has seen is always recorded).
  virtual void OnForwarded(const Forward& ticket, const HttpRequest& request,
                           const HttpResponse& response,
                           const ExchangeTiming& timing) = 0;

  // Called when forwarding failed (upstream unreachable, timed out, broke the
  // protocol). `reason` is the X-Matgto-Error code sent to the client.
  virtual void OnForwardFailed(const Forward& ticket,
                               const HttpRequest& request,
                               const std::string& reason) = 0;

  // Called instead of OnForwarded when the client got the whole response
  // but it could not be stored (larger than what a recording keeps, or its
  // spool file could not be written); `why` is the sentence that says so.
  // The default reports it as the failure "response-too-large-to-store".
  virtual void OnNotStored(const Forward& ticket, const HttpRequest& request,
                           const std::string& why) {
    OnForwardFailed(ticket, request, "response-too-large-to-store");
  }

  // Called for a WebSocket upgrade request (instead of OnRequest).
  virtual WsDecision OnWebSocket(const Route& route,
                                 const HttpRequest& upgrade) = 0;
};

}  // namespace matgto::core
