// What is written to the client: ToWire's framing and fields, the
// serialised header blocks kept with a response, WireHeadTo's bytes.
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "boost/beast/http/write.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/proxy/wire.h"
#include "tests/unit/proxy/wire_testing.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::proxy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using wire_testing::F;
using wire_testing::Fields;
using wire_testing::Wire;

TEST(ToWireTest, ContentLengthAddedWhenUnframed) {
  core::HttpResponse res{.status = 200,
                         .reason = "OK",
                         .version = 10,
                         .headers = {{"Content-Type", "text/plain"}},
                         .body = "hello"};
  WireResponse out = Wire(res, 11, true);
  EXPECT_EQ(out.result_int(), 200u);
  EXPECT_EQ(out.version(), 11);
  EXPECT_THAT(Fields(out), ElementsAre(F{"Content-Type", "text/plain"},
                                       F{"Content-Length", "5"}));
  EXPECT_TRUE(out.keep_alive());
  EXPECT_EQ(std::string(out.body().data(), out.body().size()), "hello");
}

TEST(ToWireTest, ExistingContentLengthKept) {
  core::HttpResponse res{.status = 200,
                         .headers = {{"Content-Length", "5"}, {"X-A", "1"}},
                         .body = "hello"};
  WireResponse out = Wire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Content-Length", "5"}, F{"X-A", "1"}));
}

TEST(ToWireTest, ChunkedKeptForHttp11Clients) {
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Transfer-Encoding", "chunked"}, {"X-A", "1"}},
      .body = "hello"};
  WireResponse out = Wire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Transfer-Encoding", "chunked"}, F{"X-A", "1"}));
  EXPECT_TRUE(out.chunked());
}

TEST(ToWireTest, TransferEncodingDroppedForHttp10Clients) {
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Transfer-Encoding", "chunked"}, {"X-A", "1"}},
      .body = "hello"};
  WireResponse out = Wire(res, 10, false);
  EXPECT_EQ(out.version(), 10);
  EXPECT_FALSE(out.chunked());
  EXPECT_EQ(out.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(out[http::field::content_length], "5");
  EXPECT_FALSE(out.keep_alive());
}

TEST(ToWireTest, NoContentLengthForBodylessStatuses) {
  for (int status : {204, 304, 101}) {
    SCOPED_TRACE(status);
    core::HttpResponse res{.status = status, .headers = {{"X-A", "1"}}};
    WireResponse out = Wire(res, 11, true);
    EXPECT_THAT(Fields(out), ElementsAre(F{"X-A", "1"}));
  }
}

TEST(ToWireTest, HopByHopRemoved) {
  core::HttpResponse res{.status = 200,
                         .headers = {{"Connection", "close, X-Hop"},
                                     {"Keep-Alive", "timeout=5"},
                                     {"X-Hop", "x"},
                                     {"Proxy-Authenticate", "Basic"},
                                     {"Content-Length", "0"},
                                     {"X-End", "e"}}};
  WireResponse out = Wire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Content-Length", "0"}, F{"X-End", "e"}));
}

TEST(ToWireTest, KeepAliveHeaderFollowsTheClient) {
  core::HttpResponse res{.status = 200, .headers = {{"Content-Length", "0"}}};
  // HTTP/1.0 keeps the connection only when told so.
  WireResponse v10_keep = Wire(res, 10, true);
  EXPECT_EQ(v10_keep[http::field::connection], "keep-alive");
  EXPECT_TRUE(v10_keep.keep_alive());
  WireResponse v10_close = Wire(res, 10, false);
  EXPECT_EQ(v10_close.count(http::field::connection), 0u);
  EXPECT_FALSE(v10_close.keep_alive());
  // HTTP/1.1 keeps it unless told to close.
  WireResponse v11_keep = Wire(res, 11, true);
  EXPECT_EQ(v11_keep.count(http::field::connection), 0u);
  EXPECT_TRUE(v11_keep.keep_alive());
  WireResponse v11_close = Wire(res, 11, false);
  EXPECT_EQ(v11_close[http::field::connection], "close");
  EXPECT_FALSE(v11_close.keep_alive());
}

TEST(ToWireTest, ReasonKeptOrDefaulted) {
  core::HttpResponse res{.status = 404,
                         .reason = "Gone Fishing",
                         .headers = {{"Content-Length", "0"}}};
  EXPECT_EQ(Wire(res, 11, true).reason(), "Gone Fishing");
  res.reason.clear();
  EXPECT_EQ(Wire(res, 11, true).reason(), "Not Found");
}

TEST(ToWireTest, ProxyAuthenticateKeptOnlyOnAChallenge) {
  core::HttpResponse challenge{
      .status = 407,
      .headers = {{"Proxy-Authenticate", "Basic realm=\"matgto\""}}};
  EXPECT_EQ(Wire(challenge, 11, false)[http::field::proxy_authenticate],
            "Basic realm=\"matgto\"");
  core::HttpResponse ok{
      .status = 200, .headers = {{"Proxy-Authenticate", "Basic realm=\"x\""}}};
  EXPECT_EQ(Wire(ok, 11, false).count(http::field::proxy_authenticate), 0u);
}

// A response that cannot be written as HTTP/1.1 (from a hand-edited
// cassette) is an error the connection answers with a 502, not an
// exception that breaks the client connection.
TEST(ToWireTest, UnsendableResponsesAreErrors) {
  for (int status : {0, 99, 1000, 70000, 100, 103}) {
    SCOPED_TRACE(status);
    core::HttpResponse res{.status = status};
    absl::StatusOr<WireResponse> out = ToWire(res, 11, true);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(out.status().message(),
                ::testing::HasSubstr(std::to_string(status)));
  }
  core::HttpResponse wrong{
      .status = 200, .headers = {{"Content-Length", "10"}}, .body = "hello"};
  absl::StatusOr<WireResponse> out = ToWire(wrong, 11, true);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "its Content-Length 10 disagrees with its body of 5 bytes");
  for (const char* bad : {"x", "5, 6", "-5", ""}) {
    SCOPED_TRACE(bad);
    core::HttpResponse res{
        .status = 200, .headers = {{"Content-Length", bad}}, .body = "hello"};
    EXPECT_FALSE(ToWire(res, 11, true).ok());
  }
}

TEST(ToWireTest, StoredLengthKeptForHeadAndBodylessResponses) {
  core::HttpResponse head{.status = 200, .headers = {{"Content-Length", "10"}}};
  EXPECT_EQ(
      Wire(head, 11, true, /*head_request=*/true)[http::field::content_length],
      "10");
  core::HttpResponse not_modified{.status = 304,
                                  .headers = {{"Content-Length", "10"}}};
  EXPECT_EQ(Wire(not_modified, 11, true)[http::field::content_length], "10");
  // "5, 5" is one length said twice; it leaves as one.
  core::HttpResponse twice{
      .status = 200, .headers = {{"Content-Length", "5, 5"}}, .body = "hello"};
  EXPECT_THAT(Fields(Wire(twice, 11, true)),
              ElementsAre(F{"Content-Length", "5"}));
}

TEST(ToWireTest, ReframedWhateverTheStoredFraming) {
  // A Transfer-Encoding we do not apply is dropped; the body gets a length.
  core::HttpResponse gzip_te{.status = 200,
                             .headers = {{"Transfer-Encoding", "gzip"}},
                             .body = "hello"};
  WireResponse out = Wire(gzip_te, 11, true);
  EXPECT_THAT(Fields(out), ElementsAre(F{"Content-Length", "5"}));
  EXPECT_FALSE(out.chunked());
  // Chunked and a length: chunked wins, the length goes (RFC 9112 6.3).
  core::HttpResponse both{
      .status = 200,
      .headers = {{"Content-Length", "99"}, {"Transfer-Encoding", "chunked"}},
      .body = "hello"};
  EXPECT_THAT(Fields(Wire(both, 11, true)),
              ElementsAre(F{"Transfer-Encoding", "chunked"}));
  // Listed in Connection, framing stays.
  core::HttpResponse listed{
      .status = 200,
      .headers = {{"Connection", "content-length"}, {"Content-Length", "5"}},
      .body = "hello"};
  EXPECT_THAT(Fields(Wire(listed, 11, true)),
              ElementsAre(F{"Content-Length", "5"}));
}

// What Beast writes for the whole ToWire message, as one string.
std::string Serialized(const core::HttpResponse& response, bool keep_alive) {
  WireResponse wire = Wire(response, 11, keep_alive);
  std::ostringstream out;
  out << wire;
  return out.str();
}

TEST(SerializeHeadsTest, HeadPlusBodyIsWhatBeastWrites) {
  const core::HttpResponse response{
      .status = 200,
      .reason = "OK",
      .headers = {{"Server", "nginx"},
                  {"Connection", "keep-alive, X-Hop"},
                  {"X-Hop", "1"},
                  {"Content-Length", "5"},
                  {"Set-Cookie", "a=1"},
                  {"Set-Cookie", "b=2"}},
      .body = "hello"};
  const SerializedHeads heads = SerializeHeads(response);
  EXPECT_EQ(heads.keep_alive + response.body, Serialized(response, true));
  EXPECT_EQ(heads.close + response.body, Serialized(response, false));
  EXPECT_NE(heads.keep_alive, heads.close);
  EXPECT_THAT(heads.close, ::testing::HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(heads.keep_alive, ::testing::Not(::testing::HasSubstr("X-Hop")));
}

TEST(SerializeHeadsTest, NoHeadsWhereTheBodyIsNotSentAsIs) {
  // Chunked on the wire, refused by ToWire, or no body at all: the
  // response takes the serializer's path, which knows what to do.
  EXPECT_TRUE(SerializeHeads(core::HttpResponse{
                                 .status = 200,
                                 .headers = {{"Transfer-Encoding", "chunked"}},
                                 .body = "abc"})
                  .keep_alive.empty());
  EXPECT_TRUE(
      SerializeHeads(core::HttpResponse{.status = 200,
                                        .headers = {{"Content-Length", "9"}},
                                        .body = "abc"})
          .close.empty());
  EXPECT_TRUE(
      SerializeHeads(core::HttpResponse{.status = 204}).keep_alive.empty());
  EXPECT_TRUE(
      SerializeHeads(core::HttpResponse{.status = 1000}).keep_alive.empty());
}

TEST(SerializeHeadsTest, KeptWithTheResponseNotWithItsCopies) {
  const core::HttpResponse response{.status = 200, .body = "x"};
  int made = 0;
  auto make = [&] {
    ++made;
    return SerializeHeads(response);
  };
  const SerializedHeads& first = response.wire.Get<SerializedHeads>(make);
  const SerializedHeads& again = response.wire.Get<SerializedHeads>(make);
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(made, 1);
  core::HttpResponse copy = response;
  copy.body = "changed";
  const SerializedHeads& other =
      copy.wire.Get<SerializedHeads>([&] { return SerializeHeads(copy); });
  EXPECT_NE(&other, &first);
  EXPECT_THAT(other.keep_alive, ::testing::HasSubstr("Content-Length: 7"));
  // The memo takes no part in equality.
  EXPECT_EQ(response, (core::HttpResponse{.status = 200, .body = "x"}));
}

// The header block built straight into bytes (WireHeadTo) is the one
// Beast writes for the ToWire message, for every client version,
// keep-alive and HEAD combination, and refused the same way.
TEST(WireHeadToTest, TheBytesBeastWritesForTheToWireMessage) {
  const std::vector<core::HttpResponse> responses = {
      {.status = 200,
       .reason = "OK",
       .headers = {{"Server", "nginx/1.22.1"},
                   {"Date", "Wed, 02 Dec 2026 23:50:14 GMT"},
                   {"Content-Type", "application/json"},
                   {"Content-Length", "5"},
                   {"Connection", "keep-alive"},
                   {"ETag", "\"6569-5\""},
                   {"Accept-Ranges", "bytes"}},
       .body = "hello"},
      {.status = 404, .body = "no length, no reason"},
      {.status = 599, .headers = {{"X-Pad", " \tpadded value\t "}}},
      {.status = 299, .reason = "Custom Reason", .body = "x"},
      {.status = 200,
       .headers = {{"Connection", "close, X-Hop"},
                   {"X-Hop", "1"},
                   {"Keep-Alive", "timeout=5"},
                   {"Upgrade", "h2c"},
                   {"Trailer", "X-T"},
                   {"Set-Cookie", "a=1"},
                   {"Set-Cookie", "b=2"}},
       .body = "hop"},
      {.status = 200,
       .headers = {{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}},
       .body = "abc"},
      {.status = 407,
       .headers = {{"Proxy-Authenticate", "Basic realm=\"x\""}},
       .body = "who?"},
      {.status = 401,
       .headers = {{"Proxy-Authenticate", "Basic realm=\"x\""}},
       .body = "not ours"},
      {.status = 204, .headers = {{"Content-Length", "0"}}},
      {.status = 304, .headers = {{"Content-Length", "10"}}},
      {.status = 200, .headers = {{"content-length", "5, 5"}}, .body = "twice"},
      {.status = 200, .headers = {{"Content-Length", "9"}}, .body = "abc"},
      {.status = 1000},
      {.status = 100},
      {.status = 101, .headers = {{"Upgrade", "websocket"}}},
  };
  for (const core::HttpResponse& response : responses) {
    for (const int version : {10, 11}) {
      for (const bool keep_alive : {true, false}) {
        for (const bool head_request : {false, true}) {
          SCOPED_TRACE(::testing::Message()
                       << ::testing::PrintToString(response) << " HTTP/"
                       << version << " keep_alive=" << keep_alive
                       << " head=" << head_request);
          std::string bytes = "stale";
          bool chunked = false;
          const absl::Status st = WireHeadTo(response, version, keep_alive,
                                             head_request, bytes, chunked);
          const absl::StatusOr<WireResponse> wire =
              ToWire(response, version, keep_alive, head_request);
          ASSERT_EQ(st, wire.status());
          if (!st.ok()) {
            EXPECT_THAT(bytes, IsEmpty());
            continue;
          }
          EXPECT_EQ(bytes, HeaderBytes(*wire));
          EXPECT_EQ(chunked, wire->chunked());
        }
      }
    }
  }
}

TEST(WireHeadToTest, RepeatedFieldsKeepTheirOrder) {
  // (Beast would move the second Set-Cookie up next to the first.)
  std::string bytes;
  bool chunked = true;
  ASSERT_TRUE(WireHeadTo(core::HttpResponse{.status = 200,
                                            .headers = {{"Set-Cookie", "a=1"},
                                                        {"X-Other", "x"},
                                                        {"Set-Cookie", "b=2"}},
                                            .body = "ab"},
                         11, true, false, bytes, chunked)
                  .ok());
  EXPECT_EQ(bytes,
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Other: x\r\n"
            "Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\n");
  EXPECT_FALSE(chunked);
}

}  // namespace
}  // namespace matgto::proxy
