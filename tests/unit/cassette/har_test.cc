#include "server/cassette/har.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/unit/cassette/golden_cassette.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::cassette {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::matgto::testing::IsOk;
using ::matgto::testing::MakeGoldenCassette;
using ::matgto::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct out;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &out).ok())
      << json;
  return out;
}

const google::protobuf::Value& Get(const google::protobuf::Struct& s,
                                   const std::string& key) {
  static const google::protobuf::Value kMissing;
  auto it = s.fields().find(key);
  EXPECT_NE(it, s.fields().end()) << "no field " << key;
  return it == s.fields().end() ? kMissing : it->second;
}

TEST(HarExportTest, IsHar12WithTheRequiredFields) {
  auto har = CassetteToHar(MakeGoldenCassette(), "9.9.9");
  ASSERT_THAT(har, IsOk());
  const auto doc = ParseJson(har->json);
  const auto& log = Get(doc, "log").struct_value();
  EXPECT_EQ(Get(log, "version").string_value(), "1.2");
  EXPECT_EQ(Get(Get(log, "creator").struct_value(), "name").string_value(),
            "matgto");
  EXPECT_EQ(Get(Get(log, "creator").struct_value(), "version").string_value(),
            "9.9.9");
  const auto& entries = Get(log, "entries").list_value();
  ASSERT_EQ(entries.values_size(), 3);  // the WebSocket session is left out

  const auto& e0 = entries.values(0).struct_value();
  EXPECT_EQ(Get(e0, "startedDateTime").string_value(),
            "2024-01-02T03:04:05.100Z");
  EXPECT_EQ(Get(e0, "time").number_value(), 15);
  const auto& req = Get(e0, "request").struct_value();
  EXPECT_EQ(Get(req, "method").string_value(), "GET");
  EXPECT_EQ(Get(req, "url").string_value(),
            "http://api.example.test/users?id=7");
  EXPECT_EQ(Get(req, "httpVersion").string_value(), "HTTP/1.1");
  EXPECT_EQ(Get(req, "headersSize").number_value(), -1);
  EXPECT_EQ(Get(req, "cookies").list_value().values_size(), 0);
  const auto& qs = Get(req, "queryString").list_value();
  ASSERT_EQ(qs.values_size(), 1);
  EXPECT_EQ(Get(qs.values(0).struct_value(), "name").string_value(), "id");
  EXPECT_EQ(Get(qs.values(0).struct_value(), "value").string_value(), "7");
  const auto& res = Get(e0, "response").struct_value();
  EXPECT_EQ(Get(res, "status").number_value(), 200);
  EXPECT_EQ(Get(res, "statusText").string_value(), "OK");
  EXPECT_EQ(Get(res, "redirectURL").string_value(), "");
  const auto& headers = Get(res, "headers").list_value();
  ASSERT_EQ(headers.values_size(), 5);
  EXPECT_EQ(Get(headers.values(1).struct_value(), "value").string_value(),
            "sid=[REDACTED]; Path=/; HttpOnly");
  // Latin-1 bytes read as Latin-1, the exact bytes kept in _rawValue.
  EXPECT_EQ(Get(headers.values(3).struct_value(), "value").string_value(),
            "caf\xc3\xa9");
  EXPECT_EQ(Get(headers.values(3).struct_value(), "_rawValue").string_value(),
            "Y2Fm6Q==");
  const auto& content = Get(res, "content").struct_value();
  EXPECT_EQ(Get(content, "size").number_value(), 22);
  EXPECT_EQ(Get(content, "mimeType").string_value(), "application/json");
  EXPECT_EQ(Get(content, "text").string_value(),
            "{\"id\":7,\"name\":\"Ada\"}\n");
  EXPECT_EQ(content.fields().count("encoding"), 0u);
  const auto& timings = Get(e0, "timings").struct_value();
  EXPECT_EQ(Get(timings, "send").number_value(), 0);
  EXPECT_EQ(Get(timings, "wait").number_value(), 12);
  EXPECT_EQ(Get(timings, "receive").number_value(), 3);
  EXPECT_EQ(Get(timings, "dns").number_value(), -1);
  EXPECT_TRUE(Get(e0, "cache").has_struct_value());

  // Binary bodies: base64, with encoding.
  const auto& e1 = entries.values(1).struct_value();
  const auto& post =
      Get(Get(e1, "request").struct_value(), "postData").struct_value();
  EXPECT_EQ(Get(post, "mimeType").string_value(), "application/octet-stream");
  EXPECT_EQ(Get(post, "text").string_value(), "AAEC//4=");
  EXPECT_EQ(Get(post, "encoding").string_value(), "base64");
  const auto& gz =
      Get(Get(e1, "response").struct_value(), "content").struct_value();
  EXPECT_EQ(Get(gz, "encoding").string_value(), "base64");
  EXPECT_EQ(Get(gz, "text").string_value(),
            "H4sIAAAAAAACA8tIzcnJV0jPz0lJzeMCAIsLTgoNAAAA");

  ASSERT_THAT(har->notes, SizeIs(1));
  EXPECT_THAT(har->notes[0],
              HasSubstr("WebSocket session ws://api.example.test/chat"));
}

TEST(HarRoundTripTest, MatgtoHarImportsBackToTheSameExchanges) {
  v1::Cassette original = MakeGoldenCassette();
  auto har = CassetteToHar(original, "1");
  ASSERT_THAT(har, IsOk());
  auto imported = CassetteFromHar(har->json, "back");
  ASSERT_THAT(imported, IsOk());
  EXPECT_THAT(imported->notes, ::testing::IsEmpty());
  const v1::Cassette& back = imported->cassette;
  EXPECT_EQ(back.name(), "back");
  ASSERT_EQ(back.interactions_size(), 3);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const v1::HttpExchange& want = original.interactions(i).http();
    const v1::HttpExchange& got = back.interactions(i).http();
    EXPECT_EQ(back.interactions(i).index(), static_cast<uint64_t>(i));
    EXPECT_TRUE(MessageDifferencer::Equals(got.request(), want.request()))
        << got.request().DebugString();
    EXPECT_TRUE(MessageDifferencer::Equals(got.response(), want.response()))
        << got.response().DebugString();
    EXPECT_TRUE(MessageDifferencer::Equals(got.timing(), want.timing()))
        << got.timing().DebugString();
  }
}

// What a browser writes: decoded bodies, HTTP/2 pseudo-headers, extra
// fields, an aborted request.
constexpr char kBrowserHar[] = R"({
  "log": {
    "version": "1.2",
    "creator": {"name": "WebInspector", "version": "537.36"},
    "pages": [{"id": "page_1", "title": "x"}],
    "entries": [
      {
        "_initiator": {"type": "script"},
        "startedDateTime": "2024-05-06T07:08:09.250+02:00",
        "time": 42.5,
        "request": {
          "method": "POST",
          "url": "https://shop.example/api/cart?x=1",
          "httpVersion": "http/2.0",
          "headers": [{"name": ":authority", "value": "shop.example"},
                      {"name": "content-type", "value": "application/json"}],
          "queryString": [{"name": "x", "value": "1"}],
          "cookies": [{"name": "a", "value": "b", "expires": null, "httpOnly": false}],
          "postData": {"mimeType": "application/json", "text": "{\"sku\":1}"},
          "headersSize": -1, "bodySize": 9
        },
        "response": {
          "status": 200, "statusText": "", "httpVersion": "http/2.0",
          "headers": [{"name": "content-encoding", "value": "br"},
                      {"name": "content-length", "value": "5"},
                      {"name": "content-type", "value": "application/json"}],
          "cookies": [],
          "content": {"size": 11, "mimeType": "application/json", "text": "{\"ok\":true}",
                      "compression": -6},
          "redirectURL": "", "headersSize": -1, "bodySize": 5, "_transferSize": 120
        },
        "cache": {},
        "timings": {"blocked": 1.5, "dns": -1, "ssl": -1, "connect": -1, "send": 0.5,
                    "wait": 30, "receive": 10.5, "_blocked_queueing": 1.0}
      },
      {
        "startedDateTime": "2024-05-06T07:08:10Z", "time": 0,
        "request": {"method": "GET", "url": "https://shop.example/img.png",
                    "httpVersion": "", "headers": [], "queryString": [], "cookies": [],
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": 0, "statusText": "", "httpVersion": "", "headers": [],
                     "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"},
                     "redirectURL": "", "headersSize": -1, "bodySize": -1},
        "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}
      },
      {
        "startedDateTime": "2024-05-06T07:08:11Z", "time": 3,
        "request": {"method": "GET", "url": "https://shop.example/logo.bin",
                    "httpVersion": "HTTP/1.1", "headers": [], "queryString": [],
                    "cookies": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                     "headers": [], "cookies": [],
                     "content": {"size": 3, "mimeType": "image/png", "text": "AP8Q",
                                 "encoding": "base64"},
                     "redirectURL": "", "headersSize": -1, "bodySize": 3},
        "cache": {}, "timings": {"send": 0, "wait": 2, "receive": 1}
      }
    ]
  }
})";

TEST(HarImportTest, BrowserHar) {
  EXPECT_TRUE(LooksLikeHar(kBrowserHar));
  auto imported = CassetteFromHar(kBrowserHar, "shop");
  ASSERT_THAT(imported, IsOk());
  const v1::Cassette& c = imported->cassette;
  ASSERT_EQ(c.interactions_size(), 2);  // the aborted request is skipped

  const v1::HttpExchange& cart = c.interactions(0).http();
  EXPECT_EQ(cart.request().method(), "POST");
  EXPECT_EQ(cart.request().url(), "https://shop.example/api/cart?x=1");
  EXPECT_EQ(cart.request().http_version(), "HTTP/1.1");
  ASSERT_EQ(cart.request().headers_size(), 1);  // no :authority
  EXPECT_EQ(cart.request().headers(0).name(), "content-type");
  EXPECT_EQ(cart.request().body(), "{\"sku\":1}");
  EXPECT_EQ(cart.response().status(), 200u);
  EXPECT_EQ(cart.response().body(), "{\"ok\":true}");
  // Decoded body: Content-Encoding dropped, Content-Length corrected.
  ASSERT_EQ(cart.response().headers_size(), 2);
  EXPECT_EQ(cart.response().headers(0).name(), "content-length");
  EXPECT_EQ(cart.response().headers(0).value(), "11");
  EXPECT_EQ(cart.timing().started_at().seconds(), 1714972089);  // 05:08:09Z
  EXPECT_EQ(cart.timing().started_at().nanos(), 250000000);
  EXPECT_EQ(cart.timing().total().seconds(), 0);
  EXPECT_EQ(cart.timing().total().nanos(), 42500000);
  EXPECT_EQ(cart.timing().time_to_first_byte().nanos(), 32000000);

  const v1::HttpExchange& logo = c.interactions(1).http();
  EXPECT_EQ(c.interactions(1).index(), 1u);
  EXPECT_EQ(logo.response().body(), std::string("\x00\xff\x10", 3));

  EXPECT_THAT(
      imported->notes,
      ElementsAre(
          HasSubstr("HAR entry #1 (GET https://shop.example/img.png) "
                    "has no response"),
          HasSubstr("removed Content-Encoding from 1 response"),
          HasSubstr("set Content-Length to the body size in 1 response")));
}

TEST(HarImportTest, NotHarIsInvalidArgument) {
  EXPECT_FALSE(LooksLikeHar(R"({"schema_version": 1})"));
  EXPECT_FALSE(LooksLikeHar("not json"));
  EXPECT_FALSE(LooksLikeHar(R"([1, 2])"));
  EXPECT_THAT(
      CassetteFromHar("{\"entries\": []}", "x"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no \"log\"")));
  EXPECT_THAT(
      CassetteFromHar("nope", "x"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a HAR")));
  EXPECT_THAT(
      CassetteFromHar(
          R"({"log": {"entries": [{"request": {"method": "GET", "url": "http://h/"},
          "response": {"status": 200, "content": {"text": "%%%", "encoding": "base64"}}}]}})",
          "x"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("HAR entry #0 response content says encoding base64")));
}

}  // namespace
}  // namespace matgto::cassette
