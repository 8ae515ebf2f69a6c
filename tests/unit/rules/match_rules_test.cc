// Matching rules, table-style: each rule kind alone, then properties
// (symmetry of JSON equality, redact-then-match) over generated inputs.
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/redact.h"
#include "server/match/canonical.h"
#include "server/match/matcher.h"
#include "server/replay/rules.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::match {
namespace {

using ::matgto::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

core::HttpRequest Req(std::string url, std::string body = "",
                      core::Headers headers = {}) {
  return core::HttpRequest{.method = "POST",
                           .url = std::move(url),
                           .version = 11,
                           .headers = std::move(headers),
                           .body = std::move(body)};
}

RequestMatcher FromProto(const char* text_rules) {
  v1::MatchRules proto;
  // Text format keeps the table readable.
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_rules, &proto))
      << text_rules;
  auto rules = replay::ToMatchRules(proto);
  EXPECT_TRUE(rules.ok()) << rules.status();
  return RequestMatcher(*std::move(rules));
}

struct RuleCase {
  const char* name;
  const char* rules;  // text-format v1.MatchRules
  core::HttpRequest recorded;
  core::HttpRequest live;
  bool match;
};

class RuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RuleTest, Decides) {
  const RuleCase& c = GetParam();
  RequestMatcher m = FromProto(c.rules);
  EXPECT_EQ(m.Matches(c.recorded, c.live), c.match);
  EXPECT_EQ(m.Matches(c.live, c.recorded), c.match) << "not symmetric";
  EXPECT_EQ(m.Differences(c.recorded, c.live).empty(), c.match);
  if (c.match) {
    EXPECT_EQ(m.Key(c.recorded), m.Key(c.live));
  }
}

const char kJson[] = "body: BODY_JSON";
const char kForm[] = "body: BODY_FORM";

INSTANTIATE_TEST_SUITE_P(
    Rules, RuleTest,
    ::testing::Values(
        RuleCase{"default_exact", "", Req("http://a/p?x=1", "b"),
                 Req("http://a/p?x=1", "b"), true},
        RuleCase{"default_body_differs", "", Req("http://a/p", "b"),
                 Req("http://a/p", "c"), false},
        RuleCase{"json_key_order", kJson,
                 Req("http://a/", R"({"a":1,"b":[1,2]})"),
                 Req("http://a/", R"({ "b": [1, 2], "a": 1.0 })"), true},
        RuleCase{"json_value_differs", kJson, Req("http://a/", R"({"a":1})"),
                 Req("http://a/", R"({"a":2})"), false},
        RuleCase{"json_array_order_matters", kJson, Req("http://a/", "[1,2]"),
                 Req("http://a/", "[2,1]"), false},
        RuleCase{
            "json_ignore_pointer",
            "body: BODY_JSON ignore_json_pointers: '/meta/ts' "
            "ignore_json_pointers: '/nonce'",
            Req("http://a/", R"({"q":"x","meta":{"ts":1,"v":2},"nonce":"a"})"),
            Req("http://a/",
                R"({"nonce":"b","q":"x","meta":{"v":2,"ts":999}})"),
            true},
        RuleCase{"json_not_json", kJson, Req("http://a/", "{bad"),
                 Req("http://a/", "{bad"), true},
        RuleCase{"json_vs_not_json", kJson, Req("http://a/", "{}"),
                 Req("http://a/", "{bad"), false},
        RuleCase{"form_order", kForm, Req("http://a/", "b=2&a=1"),
                 Req("http://a/", "a=1&b=2"), true},
        RuleCase{"form_decoding", kForm, Req("http://a/", "q=a+b&r=%41"),
                 Req("http://a/", "r=A&q=a%20b"), true},
        RuleCase{"form_ignore", "body: BODY_FORM ignore_form_fields: 'csrf'",
                 Req("http://a/", "a=1&csrf=x"), Req("http://a/", "csrf=y&a=1"),
                 true},
        RuleCase{"form_differs", kForm, Req("http://a/", "a=1"),
                 Req("http://a/", "a=2"), false},
        RuleCase{"body_ignore", "body: BODY_IGNORE", Req("http://a/", "x"),
                 Req("http://a/", "y"), true},
        RuleCase{"ignore_query_param", "ignore_query_params: 'ts'",
                 Req("http://a/p?q=1&ts=100"), Req("http://a/p?ts=200&q=1"),
                 true},
        RuleCase{"ignore_query_param_order_kept", "ignore_query_params: 'ts'",
                 Req("http://a/p?a=1&b=2&ts=1"), Req("http://a/p?b=2&ts=3&a=1"),
                 false},
        RuleCase{"ignore_query_param_unordered",
                 "ignore_query_params: 'ts' query_order_insensitive: true",
                 Req("http://a/p?q=1&ts=100"), Req("http://a/p?ts=200&q=1"),
                 true},
        RuleCase{"query_unordered", "query_order_insensitive: true",
                 Req("http://a/p?a=1&b=2"), Req("http://a/p?b=2&a=1"), true},
        RuleCase{"query_ordered_by_default", "", Req("http://a/p?a=1&b=2"),
                 Req("http://a/p?b=2&a=1"), false},
        RuleCase{"fields_path_only", "fields: METHOD fields: PATH",
                 Req("http://a/p?x=1", "b1"),
                 Req("https://other:8443/p?y=2", "b2"), true},
        RuleCase{"fields_host_differs", "fields: HOST", Req("http://a/p"),
                 Req("http://b/p"), false},
        RuleCase{"headers_compared",
                 "fields: PATH fields: HEADERS headers: 'X-Tenant'",
                 Req("http://a/p", "", {{"X-Tenant", "t1"}}),
                 Req("http://a/p", "", {{"x-tenant", "t1"}, {"X-Other", "z"}}),
                 true},
        RuleCase{"headers_differ",
                 "fields: PATH fields: HEADERS headers: 'X-Tenant'",
                 Req("http://a/p", "", {{"X-Tenant", "t1"}}),
                 Req("http://a/p", "", {{"X-Tenant", "t2"}}), false},
        RuleCase{
            "url_rewrite",
            "url_rewrites { pattern: '/users/[0-9]+' replacement: '/users/N' }",
            Req("http://a/users/17/orders"), Req("http://a/users/42/orders"),
            true},
        RuleCase{"url_rewrite_groups",
                 "url_rewrites { pattern: 'sig=[^&]*' replacement: 'sig=' }",
                 Req("http://a/f?x=1&sig=abc"), Req("http://a/f?x=1&sig=zzz"),
                 true},
        RuleCase{"gzip_body_decoded", "",
                 Req("http://a/",
                     std::string(
                         "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd"
                         "\xc9\xc9\x07\x00\x86\xa6\x10\x36\x05\x00\x00\x00",
                         25),
                     {{"Content-Encoding", "gzip"}}),
                 Req("http://a/", "hello"), true}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(MatchRulesTest, BadPatternIsInvalidArgument) {
  v1::MatchRules proto;
  auto* r = proto.add_url_rewrites();
  r->set_pattern("(unclosed");
  EXPECT_THAT(
      replay::ToMatchRules(proto).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("(unclosed")));
}

TEST(MatchRulesTest, BadPointerIsInvalidArgument) {
  v1::MatchRules proto;
  proto.add_ignore_json_pointers("meta/ts");
  EXPECT_THAT(
      replay::ToMatchRules(proto).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON pointer")));
}

TEST(MatchRulesTest, HeadersWithoutNamesIsInvalidArgument) {
  v1::MatchRules proto;
  proto.add_fields(v1::HEADERS);
  EXPECT_THAT(
      replay::ToMatchRules(proto).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name none")));
}

TEST(MatchRulesTest, JsonDifferencesNamePointers) {
  RequestMatcher m = FromProto(kJson);
  auto diffs = m.Differences(Req("http://a/", R"({"a":{"b":1,"c":2},"d":3})"),
                             Req("http://a/", R"({"a":{"b":9,"c":2},"d":3})"));
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].field, "body /a/b");
}

// Property: JSON equality is symmetric and invariant under re-serialisation
// with shuffled keys and added whitespace.
TEST(MatchPropertyTest, JsonEqualityIsSymmetricUnderShuffles) {
  std::mt19937 rng(1234);
  RequestMatcher m = FromProto(kJson);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::pair<std::string, int>> fields;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i)
      fields.emplace_back("k" + std::to_string(i),
                          static_cast<int>(rng() % 100));
    auto render = [&](bool spaced) {
      std::string s = "{";
      for (size_t i = 0; i < fields.size(); ++i) {
        if (i) s += spaced ? " , " : ",";
        s += "\"" + fields[i].first + "\":" + (spaced ? " " : "") +
             std::to_string(fields[i].second);
      }
      return s + "}";
    };
    const std::string a = render(false);
    std::shuffle(fields.begin(), fields.end(), rng);
    const std::string b = render(true);
    EXPECT_TRUE(m.Matches(Req("http://a/", a), Req("http://a/", b)))
        << a << " vs " << b;
    EXPECT_TRUE(m.Matches(Req("http://a/", b), Req("http://a/", a)));
    fields[0].second += 1;
    const std::string c = render(false);
    EXPECT_FALSE(m.Matches(Req("http://a/", a), Req("http://a/", c)));
    EXPECT_FALSE(m.Matches(Req("http://a/", c), Req("http://a/", a)));
  }
}

// Property: a request redacted like the recording still matches it, with
// every redaction kind on and JSON/form-aware matching.
TEST(MatchPropertyTest, RedactedRequestsStillMatch) {
  std::mt19937 rng(99);
  v1::RedactRules redact_proto;
  redact_proto.add_query_params("token");
  redact_proto.add_json_pointers("/password");
  redact_proto.add_body_patterns("sk_live_[A-Za-z0-9]+");
  auto config = replay::ToRedactConfig(redact_proto);
  ASSERT_TRUE(config.ok());
  cassette::Redactor redactor(*std::move(config));
  RequestMatcher m = FromProto("body: BODY_JSON query_order_insensitive: true");
  for (int trial = 0; trial < 100; ++trial) {
    const std::string secret = "s" + std::to_string(rng());
    core::HttpRequest live =
        Req("http://a/login?token=" + secret + "&u=" + std::to_string(trial),
            R"({"user":"u)" + std::to_string(trial) + R"(","password":")" +
                secret + R"(","key":"sk_live_)" + secret + R"("})",
            {{"Content-Type", "application/json"},
             {"Authorization", "Bearer " + secret}});
    core::HttpRequest recorded = live;
    redactor.Redact(recorded);
    EXPECT_EQ(recorded.url.find(secret), std::string::npos);
    EXPECT_EQ(recorded.body.find(secret), std::string::npos) << recorded.body;
    core::HttpRequest live_redacted = live;
    redactor.Redact(live_redacted);
    EXPECT_TRUE(m.Matches(recorded, live_redacted));
    // Idempotent: redacting twice changes nothing.
    core::HttpRequest twice = recorded;
    redactor.Redact(twice);
    EXPECT_EQ(twice, recorded);
  }
}

}  // namespace
}  // namespace matgto::match
