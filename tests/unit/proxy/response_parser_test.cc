// ResponseParser against Beast's own response parser: the same bytes, fed
// whole, split at every offset and a byte at a time, must give the same
// status line, fields, body, keep-alive and error.
#include "server/proxy/response_parser.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace matgto::proxy {
namespace {

namespace http = boost::beast::http;

struct Options {
  std::optional<uint64_t> body_limit;
  bool head = false;
};

// Feeds `pieces` to `parser` as a read loop does (what is unconsumed stays
// for the next piece), then the end of the stream; returns the error ("" on
// success).
std::string Feed(http::basic_parser<false>& parser,
                 const std::vector<std::string>& pieces,
                 const Options& options) {
  if (options.body_limit.has_value()) parser.body_limit(*options.body_limit);
  parser.skip(options.head);
  std::string pending;
  boost::beast::error_code ec;
  for (const std::string& piece : pieces) {
    pending += piece;
    while (!pending.empty() && !parser.is_done()) {
      const size_t used =
          parser.put(boost::asio::buffer(pending.data(), pending.size()), ec);
      pending.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return ec.message();
      if (used == 0) break;
    }
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec) return ec.message();
  }
  return "";
}

std::string Joined(const std::vector<std::pair<std::string, std::string>>& h) {
  std::string out;
  for (const auto& [name, value] : h) out += name + ": " + value + "\n";
  return out;
}

std::string WithBeast(const std::vector<std::string>& pieces,
                      const Options& options) {
  http::response_parser<http::string_body> parser;
  const std::string error = Feed(parser, pieces, options);
  if (!error.empty()) return "error: " + error;
  const auto& m = parser.get();
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& f : m) {
    fields.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return std::to_string(m.result_int()) + " " + std::string(m.reason()) + " " +
         std::to_string(m.version()) + "\n" + Joined(fields) + "[" + m.body() +
         "] keep-alive " + (parser.keep_alive() ? "yes" : "no");
}

std::string WithOurs(const std::vector<std::string>& pieces,
                     const Options& options,
                     core::HttpResponse* reused = nullptr) {
  ResponseParser parser;
  if (reused != nullptr) parser.Reuse(std::move(*reused));
  const std::string error = Feed(parser, pieces, options);
  if (!error.empty()) return "error: " + error;
  const core::HttpResponse& r = parser.response();
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& h : r.headers) fields.emplace_back(h.name, h.value);
  return std::to_string(r.status) + " " + r.reason + " " +
         std::to_string(r.version) + "\n" + Joined(fields) + "[" + r.body +
         "] keep-alive " + (parser.keep_alive() ? "yes" : "no");
}

struct Case {
  std::string wire;
  Options options = {};
};

const std::vector<Case>& Corpus() {
  static const std::vector<Case> corpus = {
      {"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n"
       "Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Odd-Case: V\r\n\r\nhello"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
       "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: done\r\n\r\n"},
      {"HTTP/1.0 200 Fine\r\nContent-Type: text/plain\r\n\r\nuntil close"},
      {"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"},
      {"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
      {"HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nX-Empty:\r\n"
       "X-Spaces:   padded   \r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
       "hello"},
      {"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n"},
      {"HTTP/1.1 2000 OK\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ncut"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", {.body_limit = 4}},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n",
       {.body_limit = 4}},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", {.head = true}},
  };
  return corpus;
}

TEST(ResponseParserTest, ReadsWhatBeastsParserReadsHoweverTheBytesArrive) {
  for (const Case& c : Corpus()) {
    const std::string whole = WithBeast({c.wire}, c.options);
    EXPECT_EQ(WithOurs({c.wire}, c.options), whole) << c.wire;
    for (size_t cut = 1; cut < c.wire.size(); ++cut) {
      const std::vector<std::string> two = {c.wire.substr(0, cut),
                                            c.wire.substr(cut)};
      // (Beast's own result may differ with the cut for bodies it reads to
      // the end; compare each split with Beast's on the same split.)
      EXPECT_EQ(WithOurs(two, c.options), WithBeast(two, c.options))
          << c.wire << " cut at " << cut;
    }
    std::vector<std::string> bytes;
    for (char ch : c.wire) bytes.emplace_back(1, ch);
    EXPECT_EQ(WithOurs(bytes, c.options), WithBeast(bytes, c.options))
        << c.wire << " a byte at a time";
  }
}

// Parsed into the memory of any earlier response (more fields, fewer, a
// body, an error half-way), a response reads the same.
TEST(ResponseParserTest, ReusingAnEarlierResponsesMemoryReadsTheSame) {
  for (const Case& before : Corpus()) {
    for (const Case& c : Corpus()) {
      ResponseParser first;
      Feed(first, {before.wire}, before.options);
      core::HttpResponse storage = std::move(first.response());
      EXPECT_EQ(WithOurs({c.wire}, c.options, &storage),
                WithBeast({c.wire}, c.options))
          << c.wire << " after " << before.wire;
    }
  }
}

TEST(ResponseParserTest, ASecondResponseLikeTheFirstNeedsNoNewMemory) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 08:00:00 GMT\r\n"
      "Content-Type: application/json; charset=utf-8\r\n"
      "ETag: \"5f3a-0123456789abcdef\"\r\nContent-Length: 40\r\n\r\n" +
      std::string(40, 'x');
  ResponseParser first;
  ASSERT_EQ(Feed(first, {wire}, {}), "");
  core::HttpResponse storage = std::move(first.response());
  const void* fields = storage.headers.data();
  const void* date = storage.headers[0].value.data();
  const void* body = storage.body.data();
  ResponseParser second;
  second.Reuse(std::move(storage));
  ASSERT_EQ(Feed(second, {wire}, {}), "");
  const core::HttpResponse& r = second.response();
  EXPECT_EQ(r.headers.data(), fields);
  EXPECT_EQ(r.headers[0].value.data(), date);
  EXPECT_EQ(r.body.data(), body);
  EXPECT_EQ(r.headers[0].value, "Sat, 05 Dec 2026 08:00:00 GMT");
  EXPECT_EQ(r.body, std::string(40, 'x'));
}

TEST(ResponseParserTest, TheCorpusHasGoodAndBadResponses) {
  int errors = 0;
  for (const Case& c : Corpus()) {
    if (WithBeast({c.wire}, c.options).starts_with("error:")) ++errors;
  }
  EXPECT_GE(errors, 5);
  EXPECT_LE(errors, static_cast<int>(Corpus().size()) - 8);
}

// Once relaying, the body goes to the caller's buffer a piece at a time
// (need_buffer when it is full), not into the response.
TEST(ResponseParserTest, RelayedBodyGoesToTheCallersBufferInPieces) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string wire =
      head + "5\r\nhello\r\n7\r\n, world\r\n1\r\n!\r\n0\r\n\r\n";
  ResponseParser parser;
  parser.eager(false);
  boost::beast::error_code ec;
  size_t at = parser.put(boost::asio::buffer(wire), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.response().status, 200);
  parser.eager(true);
  std::string relayed;
  std::vector<size_t> sizes;
  char piece[4];
  while (!parser.is_done()) {
    parser.BodyInto(piece, sizeof piece);
    const size_t used =
        parser.put(boost::asio::buffer(wire.data() + at, wire.size() - at), ec);
    at += used;
    ASSERT_TRUE(!ec || ec == http::error::need_buffer) << ec.message();
    const size_t got = sizeof piece - parser.BodyLeft();
    relayed.append(piece, got);
    if (got > 0) sizes.push_back(got);
    ASSERT_TRUE(used > 0 || got > 0 || parser.is_done());
  }
  EXPECT_EQ(relayed, "hello, world!");
  EXPECT_EQ(parser.response().body, "");
  for (size_t size : sizes) EXPECT_LE(size, sizeof piece);
  EXPECT_EQ(at, wire.size());
}

}  // namespace
}  // namespace matgto::proxy
