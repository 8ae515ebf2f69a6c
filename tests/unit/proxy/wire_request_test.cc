// What is forwarded upstream: hop-by-hop fields, request header checks,
// the Host, the core request, the upstream header bytes, proxy credentials.
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/proxy/wire.h"
#include "tests/unit/proxy/wire_testing.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::proxy {
namespace {

using ::testing::ElementsAre;
using wire_testing::F;
using wire_testing::Fields;
using wire_testing::Parse;

struct HopCase {
  std::string name;
  std::string tokens;
  bool hop;
};

void PrintTo(const HopCase& c, std::ostream* os) {
  *os << c.name << " with Connection: " << ::testing::PrintToString(c.tokens);
}

class IsHopByHopTest : public ::testing::TestWithParam<HopCase> {};

TEST_P(IsHopByHopTest, Classifies) {
  EXPECT_EQ(IsHopByHop(GetParam().name, GetParam().tokens), GetParam().hop)
      << "'" << GetParam().name << "' with Connection '" << GetParam().tokens
      << "'";
}

INSTANTIATE_TEST_SUITE_P(
    Wire, IsHopByHopTest,
    ::testing::Values(
        HopCase{"Connection", "", true}, HopCase{"keep-alive", "", true},
        HopCase{"Proxy-Connection", "", true},
        HopCase{"Proxy-Authorization", "", true},
        HopCase{"PROXY-AUTHENTICATE", "", true}, HopCase{"TE", "", true},
        HopCase{"Trailer", "", true}, HopCase{"UPGRADE", "", true},
        HopCase{"Content-Type", "", false},
        HopCase{"Transfer-Encoding", "", false},
        HopCase{"Authorization", "", false}, HopCase{"X-Foo", "", false},
        HopCase{"", "", false}, HopCase{"User-Agent", "", false},
        // Names listed in Connection are hop-by-hop too.
        HopCase{"X-Foo", "close, X-Foo", true}, HopCase{"x-foo", "X-FOO", true},
        HopCase{"X-Foo", "  x-bar ,\tx-foo  ", true},
        HopCase{"X-Foo", "X-Foobar", false},
        HopCase{"X-Foo", "keep-alive", false},
        // Framing and Host cannot be made hop-by-hop: dropping them would
        // let a body pass as a second request (smuggling).
        HopCase{"Content-Length", "content-length", false},
        HopCase{"Transfer-Encoding", "close, Transfer-Encoding", false},
        HopCase{"Host", "host", false}));

// "Connection: content-length" used to drop the framing header, so the
// body reached the upstream as a second request. Whatever the client says,
// the forwarded request carries one Content-Length of the body we hold.
TEST(ToUpstreamTest, ConnectionCannotDropFraming) {
  const std::string smuggled = "GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n";
  for (const std::string& token :
       {std::string("Content-Length"), std::string("transfer-encoding")}) {
    SCOPED_TRACE(token);
    core::HttpRequest req{
        .method = "POST",
        .url = "http://h/x",
        .headers = {{"Host", "h"},
                    {"Connection", "keep-alive, " + token},
                    {token == "Content-Length" ? "Content-Length"
                                               : "Transfer-Encoding",
                     token == "Content-Length" ? std::to_string(smuggled.size())
                                               : "chunked"},
                    {"X-A", "1"}},
        .body = smuggled};
    UpstreamRequest out = ToUpstream(req, Parse(req.url));
    EXPECT_THAT(Fields(out), ElementsAre(F{"Host", "h"},
                                         F{"Content-Length",
                                           std::to_string(smuggled.size())},
                                         F{"X-A", "1"}));
    EXPECT_FALSE(out.chunked());
  }
}

TEST(ToUpstreamTest, ReframedWithOneLengthOfTheBodyHeld) {
  // A chunked upload was de-chunked while read: it leaves with a length.
  core::HttpRequest chunked{
      .method = "PUT",
      .url = "http://h/x",
      .headers = {{"Transfer-Encoding", "chunked"}, {"X-A", "1"}},
      .body = "hello"};
  EXPECT_THAT(
      Fields(ToUpstream(chunked, Parse(chunked.url))),
      ElementsAre(F{"Content-Length", "5"}, F{"X-A", "1"}, F{"Host", "h"}));
  // Repeated lengths collapse into one.
  core::HttpRequest twice{.method = "POST",
                          .url = "http://h/x",
                          .headers = {{"Host", "h"},
                                      {"Content-Length", "3"},
                                      {"Content-Length", "3"}},
                          .body = "abc"};
  EXPECT_THAT(Fields(ToUpstream(twice, Parse(twice.url))),
              ElementsAre(F{"Host", "h"}, F{"Content-Length", "3"}));
  // A body without any framing header gets one; an empty one keeps the
  // client's explicit zero, and nothing when there was none.
  core::HttpRequest bare{
      .method = "POST", .url = "http://h/x", .headers = {}, .body = "ab"};
  EXPECT_EQ(ToUpstream(bare, Parse(bare.url))[http::field::content_length],
            "2");
  core::HttpRequest zero{.method = "POST",
                         .url = "http://h/x",
                         .headers = {{"Content-Length", "0"}}};
  EXPECT_EQ(ToUpstream(zero, Parse(zero.url))[http::field::content_length],
            "0");
  core::HttpRequest get{.method = "GET", .url = "http://h/x"};
  EXPECT_EQ(ToUpstream(get, Parse(get.url)).count(http::field::content_length),
            0u);
}

struct RefusalCase {
  std::vector<std::pair<std::string, std::string>> headers;
  int version;
  int status;  // 0: accepted
  std::string code;
};

void PrintTo(const RefusalCase& c, std::ostream* os) {
  *os << "HTTP/" << c.version / 10 << "." << c.version % 10;
  for (const auto& [n, v] : c.headers) *os << " [" << n << ": " << v << "]";
}

class CheckRequestHeaderTest : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(CheckRequestHeaderTest, Decides) {
  http::request_header<ClientFields> header;
  header.method(http::verb::post);
  header.target("http://h/x");
  header.version(GetParam().version);
  for (const auto& [n, v] : GetParam().headers) header.insert(n, v);
  std::optional<RequestRefusal> refusal = CheckRequestHeader(header);
  if (GetParam().status == 0) {
    EXPECT_FALSE(refusal.has_value()) << refusal->message;
    return;
  }
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->status, GetParam().status);
  EXPECT_EQ(refusal->code, GetParam().code);
  EXPECT_THAT(refusal->message, ::testing::StartsWith("matgto: "));
}

// RFC 9112 6.1 and 6.3: only a final, single `chunked` delimits a request
// body; anything else is refused before a byte of the body is read.
INSTANTIATE_TEST_SUITE_P(
    Wire, CheckRequestHeaderTest,
    ::testing::Values(
        RefusalCase{{{"Host", "h"}}, 11, 0, ""},
        RefusalCase{{{"Transfer-Encoding", "chunked"}}, 11, 0, ""},
        RefusalCase{{{"Transfer-Encoding", " Chunked "}}, 11, 0, ""},
        RefusalCase{
            {{"Transfer-Encoding", "gzip"}}, 11, 400, "bad-transfer-encoding"},
        RefusalCase{{{"Transfer-Encoding", "chunked, gzip"}},
                    11,
                    400,
                    "bad-transfer-encoding"},
        RefusalCase{{{"Transfer-Encoding", "chunked"},
                     {"Transfer-Encoding", "identity"}},
                    11,
                    400,
                    "bad-transfer-encoding"},
        RefusalCase{{{"Transfer-Encoding", "chunked, chunked"}},
                    11,
                    400,
                    "bad-transfer-encoding"},
        RefusalCase{{{"Transfer-Encoding", ",chunked"}},
                    11,
                    400,
                    "bad-transfer-encoding"},
        RefusalCase{{{"Transfer-Encoding", "xchunked"}},
                    11,
                    400,
                    "bad-transfer-encoding"},
        RefusalCase{{{"Transfer-Encoding", "chunked"}},
                    10,
                    400,
                    "bad-transfer-encoding"},
        RefusalCase{{{"Transfer-Encoding", "gzip, chunked"}},
                    11,
                    501,
                    "transfer-coding-unsupported"},
        RefusalCase{
            {{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}},
            11,
            501,
            "transfer-coding-unsupported"},
        RefusalCase{{{"Host", "a"}, {"Host", "b"}}, 11, 400, "bad-request"}));

TEST(TargetSchemeTest, AbsoluteFormSchemeOnly) {
  EXPECT_EQ(TargetScheme("ftp://h/x"), "ftp");
  EXPECT_EQ(TargetScheme("HTTP://h/"), "http");
  EXPECT_EQ(TargetScheme("git+ssh://h/"), "git+ssh");
  EXPECT_EQ(TargetScheme("/path"), "");
  EXPECT_EQ(TargetScheme("host:443"), "");  // authority-form
  EXPECT_EQ(TargetScheme("1ab://h/"), "");
  EXPECT_EQ(TargetScheme(""), "");
}

TEST(HostForTest, UrlAuthority) {
  EXPECT_EQ(HostFor(Parse("http://Example.com:80/x")), "example.com");
  EXPECT_EQ(HostFor(Parse("https://h:8443/")), "h:8443");
  EXPECT_EQ(HostFor(Parse("https://[::1]/")), "[::1]");
  EXPECT_EQ(HostFor(Parse("ws://[::1]:81/")), "[::1]:81");
}

TEST(ToUpstreamTest, OriginFormTargetHopByHopRemovedOrderKept) {
  core::HttpRequest req{.method = "POST",
                        .url = "http://api.example.com:8080/v1/items?b=2&a=1",
                        .version = 10,
                        .headers = {{"Host", "api.example.com:8080"},
                                    {"Connection", "keep-alive, X-Hop"},
                                    {"X-First", "1"},
                                    {"Proxy-Authorization", "Basic eA=="},
                                    {"X-Hop", "dropped"},
                                    {"Keep-Alive", "timeout=5"},
                                    {"Content-Length", "4"},
                                    {"X-Last", "2"}},
                        .body = "data"};
  UpstreamRequest out = ToUpstream(req, Parse(req.url));
  EXPECT_EQ(out.method_string(), "POST");
  EXPECT_EQ(out.target(), "/v1/items?b=2&a=1");
  EXPECT_EQ(out.version(), 11);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Host", "api.example.com:8080"}, F{"X-First", "1"},
                          F{"Content-Length", "4"}, F{"X-Last", "2"}));
  EXPECT_EQ(std::string(out.body().data(), out.body().size()), "data");
  EXPECT_EQ(out.body().data(), req.body.data());  // referenced, not copied
  EXPECT_TRUE(out.keep_alive());
}

TEST(ToUpstreamTest, EmptyQueryKeptAndNoQueryAbsent) {
  core::HttpRequest req{.method = "GET", .url = "http://h/p?"};
  EXPECT_EQ(ToUpstream(req, Parse("http://h/p?")).target(), "/p?");
  req.url = "http://h";
  EXPECT_EQ(ToUpstream(req, Parse("http://h")).target(), "/");
}

struct HostCase {
  std::string url;
  std::string host;
};

void PrintTo(const HostCase& c, std::ostream* os) { *os << c.url; }

class ToUpstreamHostTest : public ::testing::TestWithParam<HostCase> {};

TEST_P(ToUpstreamHostTest, HostAddedWhenMissing) {
  core::HttpRequest req{.method = "GET",
                        .url = GetParam().url,
                        .version = 10,
                        .headers = {{"Accept", "*/*"}}};
  UpstreamRequest out = ToUpstream(req, Parse(GetParam().url));
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Accept", "*/*"}, F{"Host", GetParam().host}));
}

INSTANTIATE_TEST_SUITE_P(
    Wire, ToUpstreamHostTest,
    ::testing::Values(HostCase{"http://example.com/", "example.com"},
                      HostCase{"https://example.com/", "example.com"},
                      HostCase{"http://example.com:8080/", "example.com:8080"},
                      HostCase{"https://example.com:80/", "example.com:80"},
                      HostCase{"http://[::1]/", "[::1]"},
                      HostCase{"http://[::1]:9000/x", "[::1]:9000"}));

TEST(ToUpstreamTest, ExistingHostIsNotDuplicated) {
  core::HttpRequest req{.method = "GET",
                        .url = "http://example.com/",
                        .headers = {{"host", "alias.example.com"}}};
  UpstreamRequest out = ToUpstream(req, Parse(req.url));
  EXPECT_THAT(Fields(out), ElementsAre(F{"host", "alias.example.com"}));
}

// Beast's fields container files a repeated name right after its last
// occurrence, so fields of one name end up together; what HTTP requires
// (RFC 9110 5.3), and what is checked here, is the relative order of
// same-name fields.
TEST(ToCoreTest, ClientRequestKeepsOrderAndBody) {
  ClientRequest in{http::verb::put, "/x?y=1", 10};
  in.insert("Host", "h");
  in.insert("X-B", "2");
  in.insert("X-A", "1");
  in.insert("x-b", "3");
  in.body() = std::string("a\0b", 3);
  core::HttpRequest out = ToCore(std::move(in), "http://h/x?y=1");
  EXPECT_EQ(out.method, "PUT");
  EXPECT_EQ(out.url, "http://h/x?y=1");
  EXPECT_EQ(out.version, 10);
  EXPECT_THAT(out.headers,
              ElementsAre(core::Header{"Host", "h"}, core::Header{"X-B", "2"},
                          core::Header{"x-b", "3"}, core::Header{"X-A", "1"}));
  EXPECT_EQ(out.body, std::string("a\0b", 3));
}

// Into a reused request: with host_from_url the URL's authority is the
// Host header, last, whatever the client sent (as Beast's set() would put
// it); without, the client's headers are kept as they came. Reused
// requests with more headers before keep none of theirs.
TEST(ToCoreTest, IntoAReusedRequestHostFromTheUrl) {
  auto client = [](bool with_host) {
    ClientRequest in{http::verb::get, "http://example.com:8080/x", 11};
    in.insert("Accept", "*/*");
    if (with_host) in.insert("host", "127.0.0.1:8888");
    in.insert("X-A", "1");
    return in;
  };
  const core::UrlParts url = Parse("http://example.com:8080/x");
  core::HttpRequest out{.headers = {{"Old", "1"},
                                    {"Old", "2"},
                                    {"Old", "3"},
                                    {"Old", "4"},
                                    {"Old", "5"}}};
  ToCore(client(true), url, /*host_from_url=*/true, out);
  EXPECT_EQ(out.url, "http://example.com:8080/x");
  EXPECT_THAT(
      out.headers,
      ElementsAre(core::Header{"Accept", "*/*"}, core::Header{"X-A", "1"},
                  core::Header{"Host", "example.com:8080"}));
  ToCore(client(false), url, /*host_from_url=*/true, out);
  EXPECT_THAT(
      out.headers,
      ElementsAre(core::Header{"Accept", "*/*"}, core::Header{"X-A", "1"},
                  core::Header{"Host", "example.com:8080"}));
  ToCore(client(true), url, /*host_from_url=*/false, out);
  EXPECT_THAT(out.headers, ElementsAre(core::Header{"Accept", "*/*"},
                                       core::Header{"host", "127.0.0.1:8888"},
                                       core::Header{"X-A", "1"}));
  ToCore(client(true), Parse("https://[::1]:443/x"), /*host_from_url=*/true,
         out);
  EXPECT_EQ(out.url, "https://[::1]/x");
  EXPECT_EQ(out.headers.back(), (core::Header{"Host", "[::1]"}));
}

// The same for what is sent upstream (UpstreamHeadTo and ToUpstream).
TEST(UpstreamHeadToTest, TheBytesBeastWritesForTheToUpstreamMessage) {
  struct Case {
    std::string url;
    core::HttpRequest request;
  };
  const std::vector<Case> cases = {
      {"http://127.0.0.1:8080/item/3?x=1",
       {.method = "GET",
        .headers = {{"Host", "127.0.0.1:8080"},
                    {"User-Agent", "curl/7.88.1"},
                    {"Accept", "*/*"},
                    {"Proxy-Connection", "Keep-Alive"}}}},
      {"http://example.test/", {.method = "GET"}},
      {"http://[::1]:9000/p?",
       {.method = "POST",
        .headers = {{"Transfer-Encoding", "chunked"},
                    {"Content-Length", "4"},
                    {"X-Pad", "\t v "}},
        .body = "data"}},
      {"https://api.example.test/v1",
       {.method = "PUT",
        .headers = {{"Connection", "X-Hop, keep-alive"},
                    {"X-Hop", "1"},
                    {"Proxy-Authorization", "Basic dTpw"},
                    {"TE", "trailers"},
                    {"Content-Type", "application/json"}},
        .body = "{}"}},
      {"http://h/empty",
       {.method = "POST", .headers = {{"Content-Length", "0"}}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.url);
    const core::UrlParts url = Parse(c.url);
    std::string bytes = "stale";
    UpstreamHeadTo(c.request, url, bytes);
    EXPECT_EQ(bytes, HeaderBytes(ToUpstream(c.request, url)));
  }
}

TEST(ProxyCredentialTest, BasicUserNamesTheSession) {
  // base64("s-1:matgto"), base64("s-1:"), base64("s-1")
  EXPECT_EQ(ProxyCredential("Basic cy0xOm1hdGd0bw=="), "s-1");
  EXPECT_EQ(ProxyCredential("basic  cy0xOg== "), "s-1");
  EXPECT_EQ(ProxyCredential("Basic cy0x"), "s-1");
  EXPECT_EQ(ProxyCredential(""), "");
  // Not Basic, not base64, or no user: the raw value, which names no
  // session (407), never the default session.
  EXPECT_EQ(ProxyCredential("Bearer abc"), "Bearer abc");
  EXPECT_EQ(ProxyCredential("Basic !!!"), "Basic !!!");
  EXPECT_EQ(ProxyCredential("Basic OnB3"), "Basic OnB3");  // ":pw"
}

}  // namespace
}  // namespace matgto::proxy
