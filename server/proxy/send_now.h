// A write tried at once on a plain TCP socket, before any async write: what
// the socket's send buffer takes is sent without the async write's trip
// through the scheduler (Asio queues the completion of a write that
// finished at once). A response or a forwarded request of a few KiB is
// usually taken whole; whatever is left goes on with an async write.
// TLS streams are not tried (their records are written by their own
// async operations).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstddef>

namespace matgto::proxy {

// Sends what `stream`'s socket takes now without blocking; returns how many
// bytes that was (maybe 0). `ec` is set for a broken connection only.
template <class Buffers>
std::size_t SendNow(boost::beast::tcp_stream& stream, const Buffers& buffers,
                    boost::beast::error_code& ec) {
  auto& socket = stream.socket();
  // (Only this write is synchronous; every async operation works on the
  // socket as before.)
  if (!socket.non_blocking()) {
    socket.non_blocking(true, ec);
    if (ec) return 0;
  }
  const std::size_t sent = socket.write_some(buffers, ec);
  if (ec == boost::asio::error::would_block ||
      ec == boost::asio::error::try_again) {
    ec = {};
  }
  return sent;
}

// Any other stream (TLS): nothing is tried.
template <class Stream, class Buffers>
std::size_t SendNow(Stream&, const Buffers&, boost::beast::error_code&) {
  return 0;
}

// The socket under a plain TCP stream, which the hot path reads and writes
// directly: beast::tcp_stream wraps each operation for its own timeout
// (these callers keep a LazyDeadline instead, which cancels the socket, and
// leave the stream's expiry unset) and hands the socket a buffers_prefix,
// which Asio reads with recvmsg where one buffer takes a plain recv. Any
// other stream (TLS, whose records go through its own operations) is
// itself.
inline boost::asio::ip::tcp::socket& Direct(boost::beast::tcp_stream& s) {
  return s.socket();
}
template <class Stream>
Stream& Direct(Stream& s) {
  return s;
}

}  // namespace matgto::proxy
