// HTTP/2 on the proxy's connections, with nghttp2 doing the protocol (framing,
// HPACK, flow control, stream states; RFC 9113).
//
// ServeH2 takes over a client connection that negotiated ALPN h2 on
// intercepted TLS, or opened with the HTTP/2 preface on a plain connection
// (h2c prior knowledge: a tunnel, reverse mode, or the proxy port itself).
// Each stream is one exchange: its request (headers, whole body) goes to the
// ExchangeHandler exactly as an HTTP/1.1 request would, and a forwarded
// stream goes upstream over HTTP/2 when the upstream speaks it (ALPN on
// TLS; prior knowledge when the client spoke h2c), else over HTTP/1.1. The
// response's trailers (gRPC's grpc-status) are kept and replayed.
//
// Threads: everything of one connection (the nghttp2 sessions of both sides,
// the streams, the upstream connections) lives on the client connection's
// strand; tasks (the writer, each forwarded stream, each upstream reader)
// are coroutines on that strand, counted so that ServeH2 returns only once
// none of them touches the connection any more.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "server/core/exchange_handler.h"
#include "server/proxy/config.h"
#include "server/tls/contexts.h"

namespace matgto::proxy {

// True when `bytes` (the first bytes a client sent) start the HTTP/2 client
// connection preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (at least "PRI ").
bool LooksLikeH2Preface(absl::string_view bytes);

struct H2Context {
  const ProxyConfig* config = nullptr;
  core::ExchangeHandler* handler = nullptr;
  core::Route route;
  // Where every request goes when the connection is a CONNECT tunnel or
  // reverse mode; unset on the proxy port itself (:scheme and :authority
  // then name the origin, as an absolute-form target would).
  struct Origin {
    std::string scheme;
    std::string host;
    uint16_t port = 0;
  };
  std::optional<Origin> origin;
  // The client side is TLS (h2); false: h2c.
  bool client_tls = false;
  tls::UpstreamContext* upstream_tls = nullptr;
  bool verify_upstream = true;
  // Set (on the strand) when the server drains: the session says GOAWAY and
  // ends once its streams are answered.
  const bool* closing = nullptr;
};

// Serves HTTP/2 on `stream` (bytes already read are in `pending`) until the
// client goes away, the connection breaks, or it is closing and idle.
boost::asio::awaitable<void> ServeH2(boost::beast::tcp_stream& stream,
                                     boost::beast::flat_buffer& pending,
                                     H2Context context);
boost::asio::awaitable<void> ServeH2(
    boost::asio::ssl::stream<boost::beast::tcp_stream&>& stream,
    boost::beast::flat_buffer& pending, H2Context context);

}  // namespace matgto::proxy
