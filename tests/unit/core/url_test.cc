#include "server/core/url.h"

#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::core {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::HasSubstr;

struct NormaliseCase {
  std::string input;
  std::string scheme;
  std::string host;
  uint16_t port;
  std::string path;
  std::string query;
  bool has_query;
  std::string formatted;
};

void PrintTo(const NormaliseCase& c, std::ostream* os) {
  *os << ::testing::PrintToString(c.input);
}

class NormaliseTest : public ::testing::TestWithParam<NormaliseCase> {};

TEST_P(NormaliseTest, ParsesPartsAndFormatsCanonically) {
  const NormaliseCase& c = GetParam();
  absl::StatusOr<UrlParts> parts = ParseAbsoluteUrl(c.input);
  ASSERT_THAT(parts, IsOk());
  EXPECT_EQ(parts->scheme, c.scheme);
  EXPECT_EQ(parts->host, c.host);
  EXPECT_EQ(parts->port, c.port);
  EXPECT_EQ(parts->path, c.path);
  EXPECT_EQ(parts->query, c.query);
  EXPECT_EQ(parts->has_query, c.has_query);
  EXPECT_EQ(FormatUrl(*parts), c.formatted);
  // The canonical form is a fixed point.
  absl::StatusOr<UrlParts> again = ParseAbsoluteUrl(c.formatted);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(FormatUrl(*again), c.formatted);
}

INSTANTIATE_TEST_SUITE_P(
    Url, NormaliseTest,
    ::testing::Values(
        // Scheme and host are lower-cased; the path is not.
        NormaliseCase{"HTTP://Example.COM/Path", "http", "example.com", 80,
                      "/Path", "", false, "http://example.com/Path"},
        // Default ports are elided, others kept.
        NormaliseCase{"http://example.com:80/a", "http", "example.com", 80,
                      "/a", "", false, "http://example.com/a"},
        NormaliseCase{"https://example.com:443/a", "https", "example.com", 443,
                      "/a", "", false, "https://example.com/a"},
        NormaliseCase{"https://example.com:80/a", "https", "example.com", 80,
                      "/a", "", false, "https://example.com:80/a"},
        NormaliseCase{"http://example.com:8080/a", "http", "example.com", 8080,
                      "/a", "", false, "http://example.com:8080/a"},
        NormaliseCase{"ws://example.com/s", "ws", "example.com", 80, "/s", "",
                      false, "ws://example.com/s"},
        NormaliseCase{"wss://example.com:443/s", "wss", "example.com", 443,
                      "/s", "", false, "wss://example.com/s"},
        // Empty path becomes "/".
        NormaliseCase{"http://example.com", "http", "example.com", 80, "/", "",
                      false, "http://example.com/"},
        NormaliseCase{"http://example.com?q=1", "http", "example.com", 80, "/",
                      "q=1", true, "http://example.com/?q=1"},
        // IPv6: brackets removed in the parts, put back when formatting.
        NormaliseCase{"http://[::1]:8080/x", "http", "::1", 8080, "/x", "",
                      false, "http://[::1]:8080/x"},
        NormaliseCase{"http://[FE80::AB]/", "http", "fe80::ab", 80, "/", "",
                      false, "http://[fe80::ab]/"},
        // Query kept byte for byte: order, repeats, encoding, case.
        NormaliseCase{"http://h/p?b=2&a=1&a=%2f&A=%2F", "http", "h", 80, "/p",
                      "b=2&a=1&a=%2f&A=%2F", true,
                      "http://h/p?b=2&a=1&a=%2f&A=%2F"},
        // An empty query is not an absent one.
        NormaliseCase{"http://h/p?", "http", "h", 80, "/p", "", true,
                      "http://h/p?"},
        // Percent-encoding in the path is not decoded.
        NormaliseCase{"http://h/a%2Fb/%7e", "http", "h", 80, "/a%2Fb/%7e", "",
                      false, "http://h/a%2Fb/%7e"}));

TEST(UrlTest, UserinfoIsNotPartOfTheCanonicalUrl) {
  absl::StatusOr<UrlParts> parts =
      ParseAbsoluteUrl("https://user:s3cret@Example.com:8443/p?q");
  ASSERT_THAT(parts, IsOk());
  EXPECT_EQ(parts->host, "example.com");
  EXPECT_EQ(FormatUrl(*parts), "https://example.com:8443/p?q");
}

struct BadUrlCase {
  std::string input;
  std::string message;
};

void PrintTo(const BadUrlCase& c, std::ostream* os) {
  *os << ::testing::PrintToString(c.input);
}

class BadUrlTest : public ::testing::TestWithParam<BadUrlCase> {};

TEST_P(BadUrlTest, IsInvalidArgument) {
  EXPECT_THAT(ParseAbsoluteUrl(GetParam().input),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Url, BadUrlTest,
    ::testing::Values(
        BadUrlCase{"/relative/path", "not an absolute URL"},
        BadUrlCase{"example.com/x", "not an absolute URL"},
        BadUrlCase{"", "not an absolute URL"},
        BadUrlCase{"ftp://example.com/x", "unsupported URL scheme 'ftp'"},
        BadUrlCase{"FILE:///etc/passwd", "unsupported URL scheme 'file'"},
        BadUrlCase{"mailto:a@b.c", "unsupported URL scheme"},
        BadUrlCase{"http:/no-authority", "has no host"},
        BadUrlCase{"http:///path", "has no host"},
        BadUrlCase{"http://h:0/", "bad port"},
        BadUrlCase{"http://h:65536/", "bad port"},
        BadUrlCase{"https://api.example.com:s?id=7", "bad port"},
        BadUrlCase{"http://h:::8080/p", "bad port"}));

// Parses are remembered per thread: a URL parsed again (after hundreds of
// others evicted or collided with it) gives the same parts, and one that
// failed fails again.
TEST(UrlTest, ParsingAgainGivesTheSameParts) {
  std::vector<std::string> urls;
  for (int i = 0; i < 300; ++i) {
    urls.push_back("http://Host" + std::to_string(i % 7) + ".example:" +
                   std::to_string(8000 + i) + "/p/" + std::to_string(i) +
                   (i % 3 == 0 ? "?q=" + std::to_string(i) : ""));
  }
  std::vector<std::string> first;
  for (const std::string& url : urls) {
    absl::StatusOr<UrlParts> parts = ParseAbsoluteUrl(url);
    ASSERT_THAT(parts, IsOk());
    first.push_back(FormatUrl(*parts) + " " + std::to_string(parts->port));
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = urls.size(); i-- > 0;) {
      absl::StatusOr<UrlParts> parts = ParseAbsoluteUrl(urls[i]);
      ASSERT_THAT(parts, IsOk());
      EXPECT_EQ(FormatUrl(*parts) + " " + std::to_string(parts->port),
                first[i]);
      EXPECT_EQ(parts->has_query, i % 3 == 0);
    }
  }
  EXPECT_EQ(FormatUrl(*ParseAbsoluteUrl("http://HOST0.example:8000/p/0?q=0")),
            "http://host0.example:8000/p/0?q=0");
  for (int round = 0; round < 2; ++round) {
    EXPECT_THAT(
        ParseAbsoluteUrl("http://h:0/"),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad port")));
  }
}

// What a parse gives, as one comparable string.
std::string Described(const absl::StatusOr<UrlParts>& parts) {
  if (!parts.ok()) return std::string(parts.status().ToString());
  return parts->scheme + "|" + parts->host + "|" + std::to_string(parts->port) +
         "|" + parts->path + "|" + (parts->has_query ? "?" : "") + parts->query;
}

// A URL on an origin the thread parsed before has only its path and query
// parsed: that must give what a first parse of the whole URL gives (on a
// thread that remembers nothing), bad paths and queries included.
TEST(UrlTest, NewPathsOnAKnownOriginParseAsAFirstParseDoes) {
  const std::vector<std::string> origins = {
      "http://Host.Example:8080", "https://[::1]:8443", "http://user:pw@h",
      "ws://h", "HTTP://h:80"};
  const std::vector<std::string> rests = {
      "/a",        "/a b",           "/p?q=1",  "/p?",
      "//x",       "/%zz",           "/%41",    "/p#frag",
      "/\xc3\xbc", "/p?q=a b",       "/p/../q", "/p?q=/x?y",
      "/p?q=#",    "/:@!$&'()*+,;=", "/[x]",    "/p?[x]",
      "/",         "/p%20q?r%2"};
  std::vector<std::string> urls;
  for (const std::string& origin : origins) {
    for (const std::string& rest : rests) urls.push_back(origin + rest);
  }
  std::vector<std::string> first;
  for (const std::string& url : urls) {
    // A thread of its own per URL: nothing remembered.
    std::string described;
    std::thread([&] { described = Described(ParseAbsoluteUrl(url)); }).join();
    first.push_back(described);
  }
  size_t failed = 0;
  for (const std::string& origin : origins) {
    ASSERT_THAT(ParseAbsoluteUrl(origin + "/prime"), IsOk()) << origin;
  }
  for (size_t i = 0; i < urls.size(); ++i) {
    EXPECT_EQ(Described(ParseAbsoluteUrl(urls[i])), first[i]) << urls[i];
    if (first[i].find("INVALID_ARGUMENT") != std::string::npos) ++failed;
  }
  // The corpus has bad paths and queries, not only good ones.
  EXPECT_GE(failed, 4u * origins.size());
}

TEST(DefaultPortTest, KnownSchemes) {
  EXPECT_EQ(DefaultPort("http"), 80);
  EXPECT_EQ(DefaultPort("ws"), 80);
  EXPECT_EQ(DefaultPort("https"), 443);
  EXPECT_EQ(DefaultPort("wss"), 443);
  EXPECT_EQ(DefaultPort("ftp"), 0);
}

TEST(HostPortTest, BracketsIpv6Only) {
  EXPECT_EQ(HostPort("example.com", 8080), "example.com:8080");
  EXPECT_EQ(HostPort("127.0.0.1", 80), "127.0.0.1:80");
  EXPECT_EQ(HostPort("::1", 443), "[::1]:443");
}

}  // namespace
}  // namespace matgto::core
