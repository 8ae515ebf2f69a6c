#include "server/cassette/diff.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cassette/golden_cassette.h"

namespace matgto::cassette {
namespace {

using ::matgto::testing::MakeGoldenCassette;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = InteractionChange::Kind;

v1::Interaction* Add(v1::Cassette& c, const std::string& method,
                     const std::string& url, const std::string& body) {
  v1::Interaction* it = c.add_interactions();
  it->set_index(static_cast<uint64_t>(c.interactions_size() - 1));
  it->mutable_http()->mutable_request()->set_method(method);
  it->mutable_http()->mutable_request()->set_url(url);
  it->mutable_http()->mutable_response()->set_status(200);
  it->mutable_http()->mutable_response()->set_body(body);
  return it;
}

TEST(DiffTest, IdenticalCassettes) {
  const CassetteDiff diff =
      DiffCassettes(MakeGoldenCassette(), MakeGoldenCassette());
  EXPECT_TRUE(diff.identical());
  EXPECT_EQ(diff.unchanged, 4);
}

TEST(DiffTest, PairsByMethodUrlAndOccurrence) {
  v1::Cassette a, b;
  Add(a, "GET", "http://h/x", "1");
  Add(a, "GET", "http://h/x", "2");
  Add(a, "GET", "http://h/gone", "");
  Add(b, "POST", "http://h/new", "");
  Add(b, "GET", "http://h/x", "1");
  Add(b, "GET", "http://h/x", "two");
  const CassetteDiff diff = DiffCassettes(a, b);
  ASSERT_EQ(diff.changes.size(), 3u);
  EXPECT_EQ(diff.unchanged, 1);
  EXPECT_EQ(diff.changes[0].kind, Kind::kChanged);
  EXPECT_EQ(diff.changes[0].label, "GET http://h/x (occurrence 2)");
  EXPECT_EQ(diff.changes[0].index_a, 1);
  EXPECT_EQ(diff.changes[0].index_b, 2);
  EXPECT_THAT(diff.changes[0].differences,
              ElementsAre("response body: 1 -> 3 bytes"));
  EXPECT_EQ(diff.changes[1].kind, Kind::kRemoved);
  EXPECT_EQ(diff.changes[1].label, "GET http://h/gone");
  EXPECT_EQ(diff.changes[2].kind, Kind::kAdded);
  EXPECT_EQ(diff.changes[2].label, "POST http://h/new");
  EXPECT_EQ(diff.changes[2].index_b, 0);
}

TEST(DiffTest, NamesTheDifferingParts) {
  v1::Cassette a = MakeGoldenCassette();
  v1::Cassette b = MakeGoldenCassette();
  v1::HttpExchange* http = b.mutable_interactions(0)->mutable_http();
  http->mutable_response()->set_status(404);
  http->mutable_response()->set_reason("Not Found");
  http->mutable_response()->mutable_headers(1)->set_value("sid=other");
  http->mutable_response()->set_body("{\"id\":7,\"name\":\"Bob\"}\n");
  http->mutable_request()->mutable_headers(1)->set_value("text/plain");
  // Only the order of two header lines changes.
  b.mutable_interactions(1)
      ->mutable_http()
      ->mutable_response()
      ->mutable_headers()
      ->SwapElements(0, 2);
  const CassetteDiff diff = DiffCassettes(a, b);
  ASSERT_EQ(diff.changes.size(), 2u);
  EXPECT_EQ(diff.changes[0].label, "GET http://api.example.test/users?id=7");
  EXPECT_THAT(diff.changes[0].differences,
              ElementsAre("status 200 OK -> 404 Not Found",
                          "response headers: set-cookie",
                          "response body: 22 bytes, content differs",
                          "request headers: accept"));
  EXPECT_THAT(diff.changes[1].differences,
              ElementsAre("response headers: (order)"));
}

TEST(DiffTest, WebSocketSessions) {
  v1::Cassette a = MakeGoldenCassette();
  v1::Cassette b = MakeGoldenCassette();
  v1::WebSocketSession* ws = b.mutable_interactions(3)->mutable_websocket();
  ws->mutable_messages(1)->set_payload("changed");
  ws->add_messages()->set_payload("extra");
  ws->mutable_close()->set_code(1001);
  const CassetteDiff diff = DiffCassettes(a, b);
  ASSERT_EQ(diff.changes.size(), 1u);
  EXPECT_EQ(diff.changes[0].label, "WebSocket ws://api.example.test/chat");
  EXPECT_THAT(diff.changes[0].differences,
              ElementsAre("messages: 3 -> 4", "messages differ: #1",
                          "close 1000 bye -> 1001 bye"));
}

TEST(DiffTest, EmptyCassettes) {
  EXPECT_TRUE(DiffCassettes(v1::Cassette(), v1::Cassette()).identical());
  v1::Cassette b;
  Add(b, "GET", "http://h/", "");
  const CassetteDiff diff = DiffCassettes(v1::Cassette(), b);
  ASSERT_EQ(diff.changes.size(), 1u);
  EXPECT_EQ(diff.changes[0].kind, Kind::kAdded);
  EXPECT_THAT(diff.changes[0].differences, IsEmpty());
}

}  // namespace
}  // namespace matgto::cassette
