// Redaction rules beyond the default headers.
#include <re2/re2.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/redact.h"
#include "server/core/content_coding.h"
#include "server/replay/rules.h"

namespace matgto::cassette {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Redactor Make(void (*fill)(v1::RedactRules&)) {
  v1::RedactRules r;
  fill(r);
  auto c = replay::ToRedactConfig(r);
  EXPECT_TRUE(c.ok()) << c.status();
  return Redactor(*std::move(c));
}

TEST(RedactRulesTest, QueryParams) {
  Redactor r = Make([](v1::RedactRules& p) { p.add_query_params("api_key"); });
  core::HttpRequest req{.method = "GET",
                        .url = "http://a/x?api_key=s3cr3t&q=1"};
  r.Redact(req);
  EXPECT_EQ(req.url, "http://a/x?api_key=%5BREDACTED%5D&q=1");
}

TEST(RedactRulesTest, JsonPointersKeepOtherFieldsAndFixContentLength) {
  Redactor r = Make([](v1::RedactRules& p) {
    p.add_json_pointers("/auth/token");
    p.add_json_pointers("/items/1");
  });
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Content-Type", "application/json"},
                  {"Content-Length", "60"}},
      .body = R"({"auth":{"token":"abc","user":"u"},"items":[1,2,3]})"};
  r.Redact(res);
  EXPECT_EQ(
      res.body,
      R"({"auth":{"token":"[REDACTED]","user":"u"},"items":[1,"[REDACTED]",3]})");
  EXPECT_EQ(*core::FindHeader(res.headers, "content-length"),
            std::to_string(res.body.size()));
}

TEST(RedactRulesTest, FormFieldsOnlyInForms) {
  Redactor r = Make([](v1::RedactRules& p) { p.add_form_fields("password"); });
  core::HttpRequest form{
      .method = "POST",
      .url = "http://a/",
      .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
      .body = "user=u&password=hunter2"};
  r.Redact(form);
  EXPECT_EQ(form.body, "user=u&password=%5BREDACTED%5D");
  core::HttpRequest text{.method = "POST",
                         .url = "http://a/",
                         .headers = {{"Content-Type", "text/plain"}},
                         .body = "user=u&password=hunter2"};
  r.Redact(text);
  EXPECT_EQ(text.body, "user=u&password=hunter2");
}

TEST(RedactRulesTest, BodyPatternsInsideGzipStoreDecoded) {
  Redactor r =
      Make([](v1::RedactRules& p) { p.add_body_patterns("tok_[a-z0-9]+"); });
  // gzip of "id=tok_abc123"
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Content-Encoding", "gzip"}, {"Content-Length", "33"}}};
  const unsigned char gz[] = {
      0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb,
      0x4c, 0xb1, 0x2d, 0xc9, 0xcf, 0x8e, 0x4f, 0x4c, 0x4a, 0x36, 0x34,
      0x32, 0x06, 0x00, 0x83, 0x93, 0x1c, 0x14, 0x0d, 0x00, 0x00, 0x00};
  res.body.assign(reinterpret_cast<const char*>(gz), sizeof gz);
  auto decoded = core::DecodeContent(res.body, "gzip");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(*decoded, "id=tok_abc123");
  r.Redact(res);
  EXPECT_EQ(res.body, "id=[REDACTED]");
  EXPECT_EQ(core::FindHeader(res.headers, "content-encoding"), nullptr);
  EXPECT_EQ(*core::FindHeader(res.headers, "content-length"), "13");
}

TEST(RedactRulesTest, ExtraHeadersAndDefaultsStayOn) {
  Redactor r = Make([](v1::RedactRules& p) { p.add_headers("X-Session"); });
  core::HttpRequest req{
      .method = "GET",
      .url = "http://a/",
      .headers = {{"x-session", "abc"}, {"Authorization", "Basic xyz"}}};
  r.Redact(req);
  EXPECT_EQ(req.headers[0].value, "[REDACTED]");
  EXPECT_EQ(req.headers[1].value, "Basic [REDACTED]");
}

TEST(RedactRulesTest, DisableDefaults) {
  Redactor r = Make([](v1::RedactRules& p) { p.set_disable_defaults(true); });
  core::HttpRequest req{.method = "GET",
                        .url = "http://a/",
                        .headers = {{"Authorization", "Basic xyz"}}};
  r.Redact(req);
  EXPECT_EQ(req.headers[0].value, "Basic xyz");
}

TEST(RedactRulesTest, BadPatternIsInvalidArgument) {
  v1::RedactRules p;
  p.add_body_patterns("([");
  EXPECT_FALSE(replay::ToRedactConfig(p).ok());
}

TEST(ContentCodingTest, UnknownAndCorrupt) {
  EXPECT_EQ(core::DecodeContent("x", "zstd").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(core::DecodeContent("not gzip", "gzip").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*core::DecodeContent("plain", "identity"), "plain");
}

}  // namespace
}  // namespace matgto::cassette
