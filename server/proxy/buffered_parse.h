// What Beast's http::async_read and async_read_header do when the bytes
// they need are in the read buffer already -- parse them -- without the
// round trip through the scheduler that a composed operation makes when it
// completes without I/O (it posts its completion; it may not call it
// inline). A keep-alive request usually arrives whole in one read, and a
// small response's body with its header: each of those reads cost a post.
// Callers start the async read only when this says more bytes are needed.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>

namespace matgto::proxy {

enum class ParseUntil { kHeader, kMessage };

// Feeds `parser` what `buffer` holds (consuming what it parsed) until the
// header, or the whole message, is parsed: then returns success. Returns
// http::error::need_more when more bytes must be read first (the async
// read then goes on where this stopped), and any other parser error as the
// async read would have.
template <bool isRequest, class DynamicBuffer>
boost::beast::error_code ParseBuffered(
    boost::beast::http::basic_parser<isRequest>& parser, DynamicBuffer& buffer,
    ParseUntil until) {
  namespace http = boost::beast::http;
  auto done = [&] {
    return until == ParseUntil::kHeader ? parser.is_header_done()
                                        : parser.is_done();
  };
  boost::beast::error_code ec;
  while (!done()) {
    if (buffer.size() == 0) return http::error::need_more;
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec) return ec;  // need_more too: a header not whole yet
    if (used == 0) return http::error::need_more;
  }
  return ec;
}

}  // namespace matgto::proxy
