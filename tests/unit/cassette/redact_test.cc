#include "server/cassette/redact.h"

#include <ostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::cassette {
namespace {

using ::testing::ElementsAre;

struct RedactCase {
  std::string label;
  std::string name;
  std::string value;
  std::string redacted;
};

void PrintTo(const RedactCase& c, std::ostream* os) {
  *os << c.name << ": " << ::testing::PrintToString(c.value);
}

class RedactHeaderTest : public ::testing::TestWithParam<RedactCase> {};

TEST_P(RedactHeaderTest, RedactsKeepingShape) {
  const RedactCase& c = GetParam();
  Redactor redactor(RedactConfig::Defaults());
  std::string value = c.value;
  redactor.RedactHeader(c.name, value);
  EXPECT_EQ(value, c.redacted);
}

TEST_P(RedactHeaderTest, IsIdempotent) {
  const RedactCase& c = GetParam();
  Redactor redactor(RedactConfig::Defaults());
  std::string once = c.value;
  redactor.RedactHeader(c.name, once);
  std::string twice = once;
  redactor.RedactHeader(c.name, twice);
  EXPECT_EQ(twice, once);
}

INSTANTIATE_TEST_SUITE_P(
    Redact, RedactHeaderTest,
    ::testing::Values(
        RedactCase{"Bearer", "Authorization", "Bearer abc",
                   "Bearer [REDACTED]"},
        RedactCase{"Basic", "Authorization", "Basic dXNlcjpwYXNz",
                   "Basic [REDACTED]"},
        RedactCase{"BareToken", "Authorization", "abc123", "[REDACTED]"},
        RedactCase{"LowerCaseName", "authorization", "Bearer abc",
                   "Bearer [REDACTED]"},
        RedactCase{"UpperCaseName", "AUTHORIZATION", "Bearer abc",
                   "Bearer [REDACTED]"},
        RedactCase{"ProxyAuthorization", "Proxy-Authorization", "Basic Zm9v",
                   "Basic [REDACTED]"},
        RedactCase{"CookiePairs", "Cookie", "sid=abc; theme=dark",
                   "sid=[REDACTED]; theme=[REDACTED]"},
        RedactCase{"CookieNoSpace", "cookie", "a=1;b=2",
                   "a=[REDACTED]; b=[REDACTED]"},
        RedactCase{"CookieValueWithEquals", "Cookie", "t=a=b", "t=[REDACTED]"},
        RedactCase{"SetCookieAttributes", "Set-Cookie",
                   "sid=abc; Path=/; HttpOnly; Secure",
                   "sid=[REDACTED]; Path=/; HttpOnly; Secure"},
        RedactCase{"SetCookieNoAttributes", "set-cookie", "sid=abc",
                   "sid=[REDACTED]"},
        RedactCase{"ApiKey", "X-Api-Key", "k-123", "[REDACTED]"},
        RedactCase{"ApiKeyMixedCase", "x-API-key", "k-123", "[REDACTED]"},
        RedactCase{"GoogApiKey", "X-Goog-Api-Key", "g", "[REDACTED]"},
        RedactCase{"ContentType", "Content-Type", "application/json",
                   "application/json"},
        RedactCase{"UserAgent", "User-Agent", "curl/8.0 Bearer abc",
                   "curl/8.0 Bearer abc"},
        RedactCase{"NearMiss", "X-Api-Keys", "not-secret", "not-secret"}),
    [](const ::testing::TestParamInfo<RedactCase>& param_info) {
      return param_info.param.label;
    });

TEST(RedactorTest, CustomConfigReplacesDefaults) {
  Redactor redactor(RedactConfig{.headers = {"X-Custom-Secret"}});
  std::string custom = "s3cr3t";
  redactor.RedactHeader("x-custom-secret", custom);
  EXPECT_EQ(custom, "[REDACTED]");
  std::string auth = "Bearer abc";
  redactor.RedactHeader("Authorization", auth);
  EXPECT_EQ(auth, "Bearer abc");
}

// Secret header names are told apart by length and first letter before
// they are compared: names that share one, or neither, and names whose
// first character is not a letter or is past the table's longest length.
TEST(RedactorTest, SecretHeaderNamesOfEveryShapeAreFound) {
  const std::string long_name = "X-" + std::string(70, 'l');
  Redactor redactor(RedactConfig{
      .headers = {"X-Ab", "Y-Ab", "x-abcd", "_token", "9key", long_name}});
  for (const std::string& name :
       std::vector<std::string>{"x-ab", "Y-AB", "X-ABCD", "_TOKEN", "9KEY",
                                "x-" + std::string(70, 'L')}) {
    std::string value = "s3cr3t";
    redactor.RedactHeader(name, value);
    EXPECT_EQ(value, "[REDACTED]") << name;
  }
  for (const std::string& name : std::vector<std::string>{
           "z-ab", "X-Ac", "x-abc", "-token", "8key",
           "x-" + std::string(69, 'l'), "x-" + std::string(71, 'l'), "X", ""}) {
    std::string value = "public";
    redactor.RedactHeader(name, value);
    EXPECT_EQ(value, "public") << name;
  }
}

TEST(RedactorTest, RequestHeadersRedactedUrlAndBodyUntouched) {
  Redactor redactor(RedactConfig::Defaults());
  core::HttpRequest req{.method = "POST",
                        .url = "http://api.example.com/login?user=bob",
                        .version = 11,
                        .headers = {{"Host", "api.example.com"},
                                    {"Authorization", "Bearer abc"},
                                    {"Cookie", "sid=1"},
                                    {"Accept", "*/*"}},
                        .body = "Bearer abc"};
  redactor.Redact(req);
  EXPECT_THAT(req.headers,
              ElementsAre(core::Header{"Host", "api.example.com"},
                          core::Header{"Authorization", "Bearer [REDACTED]"},
                          core::Header{"Cookie", "sid=[REDACTED]"},
                          core::Header{"Accept", "*/*"}));
  EXPECT_EQ(req.url, "http://api.example.com/login?user=bob");
  EXPECT_EQ(req.body, "Bearer abc");
}

TEST(RedactorTest, ResponseRedactsEverySetCookie) {
  Redactor redactor(RedactConfig::Defaults());
  core::HttpResponse res{.status = 200,
                         .reason = "OK",
                         .version = 11,
                         .headers = {{"Set-Cookie", "a=1; Path=/"},
                                     {"Content-Type", "text/plain"},
                                     {"Set-Cookie", "b=2; Max-Age=60"}},
                         .body = "a=1"};
  redactor.Redact(res);
  EXPECT_THAT(
      res.headers,
      ElementsAre(core::Header{"Set-Cookie", "a=[REDACTED]; Path=/"},
                  core::Header{"Content-Type", "text/plain"},
                  core::Header{"Set-Cookie", "b=[REDACTED]; Max-Age=60"}));
  EXPECT_EQ(res.body, "a=1");
  core::HttpResponse again = res;
  redactor.Redact(again);
  EXPECT_EQ(again, res);
}

}  // namespace
}  // namespace matgto::cassette
