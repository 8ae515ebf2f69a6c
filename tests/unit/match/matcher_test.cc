#include "server/match/matcher.h"

#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::match {

inline void PrintTo(const FieldDifference& d, std::ostream* os) {
  *os << d.field << " (recorded " << ::testing::PrintToString(d.recorded)
      << ", live " << ::testing::PrintToString(d.live) << ")";
}

namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::SizeIs;

core::HttpRequest Req(std::string method, std::string url,
                      std::string body = "") {
  return core::HttpRequest{.method = std::move(method),
                           .url = std::move(url),
                           .version = 11,
                           .headers = {},
                           .body = std::move(body)};
}

const core::HttpRequest kBase =
    Req("POST", "http://api.example.com:8080/v1/items?a=1", "{\"x\":1}");

struct OneFieldCase {
  std::string label;
  core::HttpRequest live;
  FieldDifference difference;
};

void PrintTo(const OneFieldCase& c, std::ostream* os) {
  *os << c.live.method << " " << c.live.url << " body "
      << ::testing::PrintToString(c.live.body);
}

class OneFieldTest : public ::testing::TestWithParam<OneFieldCase> {};

TEST_P(OneFieldTest, DiffersInExactlyThatField) {
  RequestMatcher matcher;
  const OneFieldCase& c = GetParam();
  EXPECT_FALSE(matcher.Matches(kBase, c.live));
  EXPECT_THAT(matcher.Differences(kBase, c.live), ElementsAre(c.difference));
}

INSTANTIATE_TEST_SUITE_P(
    Matcher, OneFieldTest,
    ::testing::Values(
        OneFieldCase{
            "Method",
            Req("PUT", "http://api.example.com:8080/v1/items?a=1", "{\"x\":1}"),
            {"method", "POST", "PUT"}},
        OneFieldCase{"Scheme",
                     Req("POST", "https://api.example.com:8080/v1/items?a=1",
                         "{\"x\":1}"),
                     {"scheme", "http", "https"}},
        OneFieldCase{"Host",
                     Req("POST", "http://other.example.com:8080/v1/items?a=1",
                         "{\"x\":1}"),
                     {"host", "api.example.com", "other.example.com"}},
        OneFieldCase{"Port",
                     Req("POST", "http://api.example.com:9090/v1/items?a=1",
                         "{\"x\":1}"),
                     {"port", "8080", "9090"}},
        OneFieldCase{"Path",
                     Req("POST", "http://api.example.com:8080/v1/other?a=1",
                         "{\"x\":1}"),
                     {"path", "/v1/items", "/v1/other"}},
        OneFieldCase{"Query",
                     Req("POST", "http://api.example.com:8080/v1/items?a=2",
                         "{\"x\":1}"),
                     {"query", "a=1", "a=2"}},
        OneFieldCase{
            "QueryAbsent",
            Req("POST", "http://api.example.com:8080/v1/items", "{\"x\":1}"),
            {"query", "a=1", ""}},
        OneFieldCase{"Body",
                     Req("POST", "http://api.example.com:8080/v1/items?a=1",
                         "{\"x\":2}"),
                     {"body", "{\"x\":1}", "{\"x\":2}"}}),
    [](const ::testing::TestParamInfo<OneFieldCase>& param_info) {
      return param_info.param.label;
    });

TEST(RequestMatcherTest, IdenticalRequestsMatchWithNoDifferences) {
  RequestMatcher matcher;
  core::HttpRequest live = kBase;
  live.headers = {{"X-Request-Id", "different"}};  // headers are not compared
  EXPECT_TRUE(matcher.Matches(kBase, live));
  EXPECT_THAT(matcher.Differences(kBase, live), IsEmpty());
  EXPECT_EQ(matcher.Key(kBase), matcher.Key(live));
}

TEST(RequestMatcherTest, EmptyQueryDiffersFromNoQuery) {
  RequestMatcher matcher;
  core::HttpRequest a = Req("GET", "http://h/p?");
  core::HttpRequest b = Req("GET", "http://h/p");
  EXPECT_FALSE(matcher.Matches(a, b));
  EXPECT_THAT(matcher.Differences(a, b),
              ElementsAre(Field(&FieldDifference::field, "query")));
}

TEST(RequestMatcherTest, SeveralDifferencesInFixedOrder) {
  RequestMatcher matcher;
  core::HttpRequest live = Req("GET", "https://x.com/q?z", "b");
  std::vector<std::string> fields;
  for (const FieldDifference& d : matcher.Differences(kBase, live)) {
    fields.push_back(d.field);
  }
  EXPECT_THAT(fields, ElementsAre("method", "scheme", "host", "port", "path",
                                  "query", "body"));
}

TEST(RequestMatcherTest, RulesSwitchFieldsOff) {
  RequestMatcher ignore_body(
      MatchRules{.method = true, .url = true, .body = false});
  core::HttpRequest live = kBase;
  live.body = "something else";
  EXPECT_TRUE(ignore_body.Matches(kBase, live));
  EXPECT_THAT(ignore_body.Differences(kBase, live), IsEmpty());
  EXPECT_EQ(ignore_body.Key(kBase), ignore_body.Key(live));

  RequestMatcher strict;
  EXPECT_FALSE(strict.Matches(kBase, live));

  RequestMatcher ignore_method(
      MatchRules{.method = false, .url = true, .body = true});
  core::HttpRequest put = kBase;
  put.method = "PUT";
  EXPECT_TRUE(ignore_method.Matches(kBase, put));
  EXPECT_EQ(ignore_method.Key(kBase), ignore_method.Key(put));
}

TEST(RequestMatcherTest, KeyDistinguishesDifferentRequests) {
  // Not guaranteed by the contract for every pair, but a key that ignores a
  // field would make these collide.
  RequestMatcher matcher;
  EXPECT_NE(matcher.Key(Req("GET", "http://h/a")),
            matcher.Key(Req("GET", "http://h/b")));
  EXPECT_NE(matcher.Key(Req("GET", "http://h/a")),
            matcher.Key(Req("PUT", "http://h/a")));
  EXPECT_NE(matcher.Key(Req("GET", "http://h/a", "1")),
            matcher.Key(Req("GET", "http://h/a", "2")));
}

TEST(RankTest, ClosestFirstTiesInRecordingOrderLimited) {
  RequestMatcher matcher;
  core::HttpRequest live = Req("GET", "http://h/p?q=1", "body");
  std::vector<core::HttpRequest> recorded = {
      Req("PUT", "http://h/p?q=1", "body"),    // 0: method (heaviest)
      Req("GET", "http://h/p?q=1", "other"),   // 1: body
      Req("GET", "http://h/p?q=2", "body"),    // 2: query
      Req("GET", "http://h/p?q=1", "other2"),  // 3: body (ties with 1)
      Req("GET", "http://h/x?q=1", "body"),    // 4: path
  };
  std::vector<const core::HttpRequest*> ptrs;
  for (const auto& r : recorded) ptrs.push_back(&r);

  std::vector<Candidate> all = matcher.Rank(ptrs, live, 10);
  std::vector<size_t> order;
  for (const Candidate& c : all) order.push_back(c.index);
  EXPECT_THAT(order, ElementsAre(1, 3, 2, 4, 0));
  EXPECT_THAT(all[0].differences,
              ElementsAre(Field(&FieldDifference::field, "body")));

  std::vector<Candidate> top = matcher.Rank(ptrs, live, 3);
  ASSERT_THAT(top, SizeIs(3));
  EXPECT_EQ(top[0].index, 1u);
  EXPECT_EQ(top[1].index, 3u);
  EXPECT_EQ(top[2].index, 2u);
}

TEST(RankTest, ExactMatchRanksFirstWithNoDifferences) {
  RequestMatcher matcher;
  std::vector<core::HttpRequest> recorded = {Req("GET", "http://h/a"),
                                             Req("GET", "http://h/b")};
  std::vector<const core::HttpRequest*> ptrs = {&recorded[0], &recorded[1]};
  std::vector<Candidate> ranked =
      matcher.Rank(ptrs, Req("GET", "http://h/b"), 1);
  ASSERT_THAT(ranked, SizeIs(1));
  EXPECT_EQ(ranked[0].index, 1u);
  EXPECT_THAT(ranked[0].differences, IsEmpty());
  EXPECT_THAT(matcher.Rank({}, Req("GET", "http://h/b"), 3), IsEmpty());
}

TEST(RankTest, HostOutweighsPathAndQueryTogether) {
  RequestMatcher matcher;
  core::HttpRequest live = Req("GET", "http://h/p?q=1");
  std::vector<core::HttpRequest> recorded = {Req("GET", "http://other/p?q=1"),
                                             Req("GET", "http://h/x?q=2")};
  std::vector<const core::HttpRequest*> ptrs = {&recorded[0], &recorded[1]};
  std::vector<Candidate> ranked = matcher.Rank(ptrs, live, 2);
  ASSERT_THAT(ranked, SizeIs(2));
  EXPECT_EQ(ranked[0].index, 1u);
}

TEST(DescribeBodyTest, Cases) {
  EXPECT_EQ(DescribeBody(""), "<empty>");
  EXPECT_EQ(DescribeBody("{\"a\": 1}\n"), "{\"a\": 1}\n");
  EXPECT_EQ(DescribeBody("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(DescribeBody(std::string("a\0b", 3)), "<3 bytes, binary>");
  EXPECT_EQ(DescribeBody("\xff\xfe\x01"), "<3 bytes, binary>");
  EXPECT_EQ(DescribeBody("abc\xc3"), "<4 bytes, binary>");  // cut sequence
  EXPECT_EQ(DescribeBody("abcdef", 3), "abc... (6 bytes)");
  EXPECT_EQ(DescribeBody("abcdef", 6), "abcdef");
}

// Byte sequences that look like UTF-8 lead/continuation patterns but are not
// UTF-8 (RFC 3629 section 4): they must be described as binary, because the
// description ends up in protobuf string fields and JSON.
TEST(DescribeBodyTest, InvalidUtf8FormsAreBinary) {
  for (const std::string& body :
       {std::string("\xc0\x80"),             // overlong NUL
        std::string("\xc1\xbf"),             // overlong '\x7f'
        std::string("\xe0\x80\xaf"),         // overlong '/'
        std::string("\xed\xa0\x80"),         // UTF-16 surrogate D800
        std::string("\xf4\x90\x80\x80"),     // above U+10FFFF
        std::string("\xf5\x80\x80\x80")}) {  // lead byte F5
    EXPECT_EQ(DescribeBody(body),
              "<" + std::to_string(body.size()) + " bytes, binary>")
        << ::testing::PrintToString(body);
  }
}

TEST(DescribeBodyTest, TruncatesOnACharacterBoundary) {
  // "ab" + "é" (2 bytes) + "€" (3 bytes) + "z": cuts inside a character move
  // back to its first byte.
  const std::string body = "ab\xc3\xa9\xe2\x82\xacz";
  EXPECT_EQ(DescribeBody(body, 2), "ab... (8 bytes)");
  EXPECT_EQ(DescribeBody(body, 3), "ab... (8 bytes)");
  EXPECT_EQ(DescribeBody(body, 4), "ab\xc3\xa9... (8 bytes)");
  EXPECT_EQ(DescribeBody(body, 5), "ab\xc3\xa9... (8 bytes)");
  EXPECT_EQ(DescribeBody(body, 6), "ab\xc3\xa9... (8 bytes)");
  EXPECT_EQ(DescribeBody(body, 7), "ab\xc3\xa9\xe2\x82\xac... (8 bytes)");
}

TEST(DescribeBodyTest, DefaultLimitIs200) {
  const std::string body(250, 'x');
  EXPECT_EQ(DescribeBody(body), std::string(200, 'x') + "... (250 bytes)");
}

TEST(DescribeBodyTest, BodyDifferenceIsDescribed) {
  RequestMatcher matcher;
  core::HttpRequest rec = Req("POST", "http://h/", std::string("\0\1", 2));
  core::HttpRequest live = Req("POST", "http://h/", "text");
  EXPECT_THAT(
      matcher.Differences(rec, live),
      ElementsAre(FieldDifference{"body", "<2 bytes, binary>", "text"}));
}

}  // namespace
}  // namespace matgto::match
