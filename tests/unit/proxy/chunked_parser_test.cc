// Beast's request parser as the proxy uses it, fed the way a slow client
// sends: in builds with assertions (asan, tsan) this aborted on valid input
// before server/core/boost_assert.cc (Beast 1.81's wrong `n >= 5`).
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "gtest/gtest.h"
#include "server/core/boost_assert.h"

namespace matgto::proxy {
namespace {

namespace http = boost::beast::http;

TEST(BoostAssertTest, OnlyTheKnownWrongBeastAssertionIsIgnored) {
  EXPECT_TRUE(core::IsKnownWrongBoostAssertion(
      "n >= 5", "/usr/include/boost/beast/http/impl/basic_parser.ipp"));
  EXPECT_FALSE(core::IsKnownWrongBoostAssertion(
      "n >= 3", "/usr/include/boost/beast/http/impl/basic_parser.ipp"));
  EXPECT_FALSE(core::IsKnownWrongBoostAssertion(
      "n >= 5", "/usr/include/boost/beast/websocket/impl/read.hpp"));
}

// Feeds `pieces` one after the other, each with what is still unconsumed
// before it, as Beast's read loop does; returns the body once done.
std::string Feed(const std::vector<std::string>& pieces) {
  http::request_parser<http::string_body> parser;
  std::string pending;
  for (const std::string& piece : pieces) {
    pending += piece;
    for (;;) {
      boost::beast::error_code ec;
      const size_t used =
          parser.put(boost::asio::buffer(pending.data(), pending.size()), ec);
      pending.erase(0, used);
      if (ec == http::error::need_more) break;
      EXPECT_FALSE(ec) << ec.message();
      if (ec || parser.is_done() || pending.empty()) break;
    }
  }
  EXPECT_TRUE(parser.is_done());
  return parser.is_done() ? parser.get().body() : "";
}

TEST(ChunkedParserTest, FinalChunkTrickledAByteAtATimeIsParsed) {
  const std::string head =
      "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(Feed({head + "5\r\nhello\r\n", "0\r\n", "\r", "\n"}), "hello");
  EXPECT_EQ(Feed({head, "0\r\n", "\r", "\n"}), "");
  EXPECT_EQ(Feed({head + "5\r\nhello\r\n0", "\r\n", "\r\n"}), "hello");
}

}  // namespace
}  // namespace matgto::proxy
