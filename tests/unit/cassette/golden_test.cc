// Cassettes written by schema version 1 load in this build, with every
// field where it was. The files in tests/testdata/ were written once by
// make_golden_cassette and are never regenerated: if this test fails, the
// change broke old cassettes (write an upgrade in codec.cc instead).
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/store.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::cassette {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::google::protobuf::util::TimeUtil;
using ::matgto::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kDir = MATGTO_TESTDATA_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Time(const google::protobuf::Timestamp& t) {
  return TimeUtil::ToString(t);
}
int64_t Ms(const google::protobuf::Duration& d) {
  return TimeUtil::DurationToMilliseconds(d);
}

// Every expectation is literal: what a v1 file holds, forever.
void CheckGoldenV1(const v1::Cassette& c) {
  EXPECT_EQ(c.schema_version(), 1u);
  EXPECT_EQ(c.name(), "cassette_v1");
  EXPECT_EQ(c.written_by(), "matgto 0.1.0");
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(Time(c.created_at()), "2024-01-02T03:04:05Z");
  EXPECT_EQ(Time(c.updated_at()), "2024-01-02T03:04:09Z");
  EXPECT_EQ(c.options().on_exhausted(), v1::EXHAUSTED_ERROR);
  EXPECT_EQ(c.options().ws_timing(), v1::AS_RECORDED);
  EXPECT_EQ(c.options().ws_speed(), 2.0);
  ASSERT_EQ(c.interactions_size(), 4);

  {
    const v1::Interaction& it = c.interactions(0);
    EXPECT_EQ(it.index(), 0u);
    EXPECT_EQ(Time(it.recorded_at()), "2024-01-02T03:04:05.100Z");
    ASSERT_TRUE(it.has_http());
    const v1::HttpRequest& req = it.http().request();
    EXPECT_EQ(req.method(), "GET");
    EXPECT_EQ(req.url(), "http://api.example.test/users?id=7");
    EXPECT_EQ(req.http_version(), "HTTP/1.1");
    ASSERT_EQ(req.headers_size(), 3);
    EXPECT_EQ(req.headers(2).name(), "Authorization");
    EXPECT_EQ(req.headers(2).value(), "Bearer [REDACTED]");
    EXPECT_EQ(req.body(), "");
    const v1::HttpResponse& res = it.http().response();
    EXPECT_EQ(res.status(), 200u);
    EXPECT_EQ(res.reason(), "OK");
    ASSERT_EQ(res.headers_size(), 5);
    EXPECT_EQ(res.headers(1).name(), "Set-Cookie");
    EXPECT_EQ(res.headers(1).value(), "sid=[REDACTED]; Path=/; HttpOnly");
    EXPECT_EQ(res.headers(2).name(), "Set-Cookie");
    EXPECT_EQ(res.headers(2).value(), "theme=[REDACTED]");
    EXPECT_EQ(res.headers(3).name(), "X-Latin1");
    EXPECT_EQ(res.headers(3).value(), "");
    EXPECT_EQ(res.headers(3).raw_value(), "caf\xe9");
    EXPECT_EQ(res.body(), "{\"id\":7,\"name\":\"Ada\"}\n");
    EXPECT_EQ(res.body_text(), "");  // normalized into body on load
    EXPECT_EQ(Time(it.http().timing().started_at()),
              "2024-01-02T03:04:05.100Z");
    EXPECT_EQ(Ms(it.http().timing().time_to_first_byte()), 12);
    EXPECT_EQ(Ms(it.http().timing().total()), 15);
  }
  {
    const v1::Interaction& it = c.interactions(1);
    ASSERT_TRUE(it.has_http());
    EXPECT_EQ(it.http().request().method(), "POST");
    EXPECT_EQ(it.http().request().body(),
              std::string("\x00\x01\x02\xff\xfe", 5));
    const v1::HttpResponse& res = it.http().response();
    EXPECT_EQ(res.status(), 201u);
    EXPECT_EQ(res.headers(1).name(), "Content-Encoding");
    EXPECT_EQ(res.headers(1).value(), "gzip");
    const unsigned char gzip[] = {31,  139, 8,  0,   0,   0,   0,  0,   2,
                                  3,   203, 72, 205, 201, 201, 87, 72,  207,
                                  207, 73,  73, 205, 227, 2,   0,  139, 11,
                                  78,  10,  13, 0,   0,   0};
    EXPECT_EQ(res.body(),
              std::string(reinterpret_cast<const char*>(gzip), sizeof(gzip)));
  }
  {
    const v1::Interaction& it = c.interactions(2);
    ASSERT_TRUE(it.has_http());
    EXPECT_EQ(it.http().request().http_version(), "HTTP/1.0");
    EXPECT_EQ(it.http().response().status(), 204u);
    EXPECT_EQ(it.http().response().reason(), "");
    EXPECT_EQ(it.http().response().raw_reason(), "Gel\xf6scht");
    EXPECT_EQ(it.http().response().body(), "");
  }
  {
    const v1::Interaction& it = c.interactions(3);
    ASSERT_TRUE(it.has_websocket());
    const v1::WebSocketSession& ws = it.websocket();
    EXPECT_EQ(ws.upgrade_request().url(), "ws://api.example.test/chat");
    EXPECT_EQ(ws.upgrade_response().status(), 101u);
    EXPECT_EQ(ws.upgrade_response().headers(2).value(),
              "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ASSERT_EQ(ws.messages_size(), 3);
    EXPECT_EQ(ws.messages(0).direction(), v1::CLIENT_TO_SERVER);
    EXPECT_EQ(ws.messages(0).kind(), v1::WS_TEXT);
    EXPECT_EQ(ws.messages(0).payload(), "hello");
    EXPECT_EQ(Ms(ws.messages(0).since_open()), 1);
    EXPECT_EQ(ws.messages(1).direction(), v1::SERVER_TO_CLIENT);
    EXPECT_EQ(ws.messages(1).payload(), "h\xc3\xa9llo back");
    EXPECT_EQ(ws.messages(1).payload_text(), "");
    EXPECT_EQ(ws.messages(2).kind(), v1::WS_BINARY);
    EXPECT_EQ(ws.messages(2).payload(), std::string("\x00\xff\x10", 3));
    EXPECT_EQ(ws.close().initiator(), v1::CLIENT_TO_SERVER);
    EXPECT_EQ(ws.close().code(), 1000u);
    EXPECT_EQ(ws.close().reason(), "bye");
    EXPECT_EQ(Ms(ws.close().since_open()), 5);
    EXPECT_EQ(Ms(ws.timing().total()), 6);
  }
}

TEST(GoldenCassetteTest, BinaryV1Loads) {
  auto store = FileCassetteStore::Create(kDir, CassetteFormat::kBinary);
  ASSERT_THAT(store, IsOk());
  auto c = (*store)->Load("cassette_v1");
  ASSERT_THAT(c, IsOk());
  CheckGoldenV1(*c);
}

TEST(GoldenCassetteTest, BinaryV1LoadsAsAMappedImage) {
  auto store = FileCassetteStore::Create(kDir, CassetteFormat::kBinary);
  ASSERT_THAT(store, IsOk());
  auto image = (*store)->LoadImage("cassette_v1");
  ASSERT_THAT(image, IsOk());
  auto whole = (*image)->Materialize();
  ASSERT_THAT(whole, IsOk());
  CheckGoldenV1(*whole);
  auto loaded = (*store)->Load("cassette_v1");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_TRUE(MessageDifferencer::Equals(*whole, *loaded));
}

TEST(GoldenCassetteTest, JsonV1LoadsAndEqualsTheBinary) {
  auto json_store = FileCassetteStore::Create(kDir, CassetteFormat::kJson);
  ASSERT_THAT(json_store, IsOk());
  auto from_json = (*json_store)->Load("cassette_v1");
  ASSERT_THAT(from_json, IsOk());
  CheckGoldenV1(*from_json);
  auto from_binary =
      ParseCassette(ReadFile(kDir + "/cassette_v1.pb"), "golden");
  ASSERT_THAT(from_binary, IsOk());
  NormalizeTextBodies(*from_binary);
  EXPECT_TRUE(MessageDifferencer::Equals(*from_json, *from_binary));
}

TEST(GoldenCassetteTest, JsonV1IsReviewable) {
  const std::string json = ReadFile(kDir + "/cassette_v1.json");
  // Text bodies as text, binary ones base64, Latin-1 header bytes in raw_value.
  EXPECT_THAT(json,
              HasSubstr(R"("body_text": "{\"id\":7,\"name\":\"Ada\"}\n")"));
  EXPECT_THAT(json, HasSubstr(R"("payload_text": "hello")"));
  EXPECT_THAT(json, HasSubstr(R"("body": "AAEC//4=")"));
  EXPECT_THAT(json, HasSubstr(R"("raw_value": "Y2Fm6Q==")"));
  EXPECT_THAT(json, HasSubstr(R"("schema_version": 1)"));
  EXPECT_THAT(json, Not(HasSubstr("schemaVersion")));
}

}  // namespace
}  // namespace matgto::cassette
