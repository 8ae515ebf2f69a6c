#include "tests/fuzz/targets.h"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/cassette/codec.h"
#include "server/cassette/journal.h"
#include "server/cassette/json_codec.h"
#include "server/core/url.h"
#include "server/proxy/wire.h"

namespace matgto::fuzz {

namespace http = boost::beast::http;

bool RequestPath(const uint8_t* data, size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  const char* p = reinterpret_cast<const char*>(data);
  size_t left = size;
  // Fed in uneven slices, as a socket would.
  while (left > 0 && !parser.is_done()) {
    const size_t slice = std::min<size_t>(left, 1 + (left % 97));
    size_t used = parser.put(boost::asio::buffer(p, slice), ec);
    if (ec == http::error::need_more) {
      ec = {};
      if (used == 0) {
        if (slice == left) break;
        // The parser wants more than this slice: give it everything left.
        used = parser.put(boost::asio::buffer(p, left), ec);
        if (ec == http::error::need_more) break;
      }
    }
    if (ec) return false;
    p += used;
    left -= used;
  }
  if (!parser.is_done()) return false;
  if (proxy::CheckRequestHeader(parser.get()).has_value()) return false;
  proxy::ClientRequest request = parser.release();
  const std::string target(request.target());
  absl::StatusOr<core::UrlParts> url = core::ParseAbsoluteUrl(target);
  if (!url.ok()) return false;
  core::HttpRequest exchange =
      proxy::ToCore(std::move(request), core::FormatUrl(*url));
  proxy::UpstreamRequest upstream = proxy::ToUpstream(exchange, *url);
  (void)upstream;
  core::HttpResponse echo{.status = 200,
                          .reason = "OK",
                          .version = exchange.version,
                          .headers = exchange.headers,
                          .body = exchange.body};
  absl::StatusOr<proxy::WireResponse> wire =
      proxy::ToWire(echo, exchange.version, true);
  (void)wire;
  return true;
}

int DecoderPath(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  return int{cassette::ParseCassette(bytes, "fuzz").ok()} +
         int{cassette::RecoverJournal(bytes, "fuzz").ok()} +
         int{cassette::ParseCassetteJson(bytes, "fuzz").ok()};
}

}  // namespace matgto::fuzz
