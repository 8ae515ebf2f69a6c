#include "server/cassette/json_codec.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "tests/unit/cassette/golden_cassette.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::cassette {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::matgto::testing::IsOk;
using ::matgto::testing::MakeGoldenCassette;
using ::matgto::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A stamped cassette, as the store writes it.
v1::Cassette Stamped(const v1::Cassette& c) {
  v1::Cassette out;
  EXPECT_TRUE(out.ParseFromString(SerializeCassette(c)));
  return out;
}

TEST(JsonCodecTest, RoundTripKeepsEveryByte) {
  const v1::Cassette original = MakeGoldenCassette();
  auto json = SerializeCassetteJson(original);
  ASSERT_THAT(json, IsOk());
  auto back = ParseCassetteJson(*json, "mem.json");
  ASSERT_THAT(back, IsOk());
  EXPECT_TRUE(MessageDifferencer::Equals(*back, Stamped(original)))
      << back->DebugString();
}

TEST(JsonCodecTest, TextBodiesAreTextAndBinaryBodiesBase64) {
  auto json = SerializeCassetteJson(MakeGoldenCassette());
  ASSERT_THAT(json, IsOk());
  // Proto field names, indented.
  EXPECT_THAT(*json, HasSubstr("\n \"schema_version\": 1,\n"));
  EXPECT_THAT(*json, HasSubstr(R"("complete": true)"));
  EXPECT_THAT(*json,
              HasSubstr(R"("body_text": "{\"id\":7,\"name\":\"Ada\"}\n")"));
  // Binary request body and gzip response body stay bytes (base64).
  EXPECT_THAT(*json, HasSubstr(R"("body": "AAEC//4=")"));
  EXPECT_THAT(
      *json,
      HasSubstr(R"("body": "H4sIAAAAAAACA8tIzcnJV0jPz0lJzeMCAIsLTgoNAAAA")"));
  // WebSocket: text payloads as text, binary as base64.
  EXPECT_THAT(*json, HasSubstr(R"("payload_text": "hello")"));
  EXPECT_THAT(*json, HasSubstr("\"payload_text\": \"h\xc3\xa9llo back\""));
  EXPECT_THAT(*json, HasSubstr(R"("payload": "AP8Q")"));
  // Non-UTF-8 header value and reason.
  EXPECT_THAT(*json, HasSubstr(R"("raw_value": "Y2Fm6Q==")"));
  EXPECT_THAT(*json, HasSubstr(R"("raw_reason": "R2Vs9nNjaHQ=")"));
  EXPECT_THAT(*json, HasSubstr(R"("kind": "WS_BINARY")"));
}

TEST(JsonCodecTest, CassetteToJsonDoesNotStamp) {
  v1::Cassette c;
  c.set_name("plain");
  auto json = CassetteToJson(c);
  ASSERT_THAT(json, IsOk());
  EXPECT_THAT(*json, Not(HasSubstr("schema_version")));
  EXPECT_THAT(*json, HasSubstr(R"("name": "plain")"));
}

TEST(JsonCodecTest, AngleBracketsArePlain) {
  v1::Cassette c = MakeGoldenCassette();
  c.mutable_interactions(0)->mutable_http()->mutable_response()->set_body(
      "<p>a \\u003c b</p>");
  auto json = SerializeCassetteJson(c);
  ASSERT_THAT(json, IsOk());
  EXPECT_THAT(*json, HasSubstr(R"("body_text": "<p>a \\u003c b</p>")"));
  auto back = ParseCassetteJson(*json, "x");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->interactions(0).http().response().body(),
            "<p>a \\u003c b</p>");
}

TEST(JsonCodecTest, UnescapeAngleBracketsOnlyTouchesRealEscapes) {
  EXPECT_EQ(UnescapeAngleBrackets(R"("\u003ca\u003e")"), R"("<a>")");
  EXPECT_EQ(UnescapeAngleBrackets(R"("\\u003c")"), R"("\\u003c")");
  EXPECT_EQ(UnescapeAngleBrackets(R"("\\\u003c")"), R"("\\<")");
  EXPECT_EQ(UnescapeAngleBrackets(R"("\u0001\"")"), R"("\u0001\"")");
  EXPECT_EQ(UnescapeAngleBrackets("\"trailing\\"), "\"trailing\\");
}

TEST(JsonCodecTest, BodyTextIsNormalizedIntoBody) {
  v1::Cassette c;
  auto* http = c.add_interactions()->mutable_http();
  http->mutable_request()->set_body_text("req");
  http->mutable_response()->set_body("old");
  http->mutable_response()->set_body_text("new");  // body_text wins
  auto* ws = c.add_interactions()->mutable_websocket();
  ws->add_messages()->set_payload_text("hi");
  ws->add_messages()->set_payload(std::string("\xff\x00", 2));
  NormalizeTextBodies(c);
  EXPECT_EQ(c.interactions(0).http().request().body(), "req");
  EXPECT_EQ(c.interactions(0).http().request().body_text(), "");
  EXPECT_EQ(c.interactions(0).http().response().body(), "new");
  EXPECT_EQ(c.interactions(1).websocket().messages(0).payload(), "hi");
  EXPECT_EQ(c.interactions(1).websocket().messages(1).payload(),
            std::string("\xff\x00", 2));

  MoveTextBodiesOut(c);
  EXPECT_EQ(c.interactions(0).http().request().body(), "");
  EXPECT_EQ(c.interactions(0).http().request().body_text(), "req");
  EXPECT_EQ(c.interactions(1).websocket().messages(1).payload(),
            std::string("\xff\x00", 2));
  EXPECT_EQ(c.interactions(1).websocket().messages(1).payload_text(), "");
}

TEST(JsonCodecTest, NotJsonIsDataLossNamingTheSource) {
  EXPECT_THAT(
      ParseCassetteJson("not json", "dir/x.json"),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("dir/x.json"),
                     HasSubstr("not a valid JSON matgto.v1.Cassette"))));
}

TEST(JsonCodecTest, UnknownFieldsAreRefused) {
  EXPECT_THAT(
      ParseCassetteJson(
          R"({"schema_version": 1, "complete": true, "nmae": "x"})", "x.json"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("nmae")));
}

TEST(JsonCodecTest, MissingSchemaOrMarkerIsDataLoss) {
  EXPECT_THAT(
      ParseCassetteJson(R"({"name": "x", "complete": true})", "x.json"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("no schema_version")));
  EXPECT_THAT(
      ParseCassetteJson(R"({"schema_version": 1, "name": "x"})", "x.json"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
  EXPECT_THAT(ParseCassetteJson(R"({"schema_version": 99, "complete": true})",
                                "x.json"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("newer than this matgto")));
}

TEST(JsonCodecTest, LooksLikeJson) {
  EXPECT_TRUE(LooksLikeJson(" \n{\"a\":1}"));
  EXPECT_FALSE(LooksLikeJson(SerializeCassette(MakeGoldenCassette())));
  EXPECT_FALSE(LooksLikeJson(""));
}

}  // namespace
}  // namespace matgto::cassette
