#include "server/proxy/wire.h"

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::proxy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The header lines of a Beast message, in order.
template <class Message>
std::vector<std::pair<std::string, std::string>> Fields(const Message& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : m) {
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}
using F = std::pair<std::string, std::string>;

core::UrlParts Parse(const std::string& url) {
  auto parts = core::ParseAbsoluteUrl(url);
  EXPECT_TRUE(parts.ok()) << parts.status();
  return parts.ok() ? *parts : core::UrlParts{};
}

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
        HopCase{"Proxy-Authorization", "", true}, HopCase{"TE", "", true},
        HopCase{"Trailer", "", true}, HopCase{"UPGRADE", "", true},
        HopCase{"Content-Type", "", false},
        HopCase{"Transfer-Encoding", "", false},
        HopCase{"Authorization", "", false}, HopCase{"X-Foo", "", false},
        // Names listed in Connection are hop-by-hop too.
        HopCase{"X-Foo", "close, X-Foo", true}, HopCase{"x-foo", "X-FOO", true},
        HopCase{"X-Foo", "  x-bar ,\tx-foo  ", true},
        HopCase{"X-Foo", "X-Foobar", false},
        HopCase{"X-Foo", "keep-alive", false}));

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

TEST(ToCoreTest, UpstreamResponse) {
  http::response<http::string_body> in{http::status::not_found, 11};
  in.reason("Nope");
  in.insert("Set-Cookie", "a=1");
  in.insert("Set-Cookie", "b=2");
  in.body() = "missing";
  core::HttpResponse out = ToCore(std::move(in));
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(out.reason, "Nope");
  EXPECT_EQ(out.version, 11);
  EXPECT_THAT(out.headers, ElementsAre(core::Header{"Set-Cookie", "a=1"},
                                       core::Header{"Set-Cookie", "b=2"}));
  EXPECT_EQ(out.body, "missing");
}

TEST(ToWireTest, ContentLengthAddedWhenUnframed) {
  core::HttpResponse res{.status = 200,
                         .reason = "OK",
                         .version = 10,
                         .headers = {{"Content-Type", "text/plain"}},
                         .body = "hello"};
  WireResponse out = ToWire(res, 11, true);
  EXPECT_EQ(out.result_int(), 200u);
  EXPECT_EQ(out.version(), 11);
  EXPECT_THAT(Fields(out), ElementsAre(F{"Content-Type", "text/plain"},
                                       F{"Content-Length", "5"}));
  EXPECT_TRUE(out.keep_alive());
  EXPECT_EQ(std::string(out.body().data(), out.body().size()), "hello");
}

TEST(ToWireTest, ExistingContentLengthKept) {
  core::HttpResponse res{.status = 200,
                         .headers = {{"Content-Length", "5"}, {"X-A", "1"}},
                         .body = "hello"};
  WireResponse out = ToWire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Content-Length", "5"}, F{"X-A", "1"}));
}

TEST(ToWireTest, ChunkedKeptForHttp11Clients) {
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Transfer-Encoding", "chunked"}, {"X-A", "1"}},
      .body = "hello"};
  WireResponse out = ToWire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Transfer-Encoding", "chunked"}, F{"X-A", "1"}));
  EXPECT_TRUE(out.chunked());
}

TEST(ToWireTest, TransferEncodingDroppedForHttp10Clients) {
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Transfer-Encoding", "chunked"}, {"X-A", "1"}},
      .body = "hello"};
  WireResponse out = ToWire(res, 10, false);
  EXPECT_EQ(out.version(), 10);
  EXPECT_FALSE(out.chunked());
  EXPECT_EQ(out.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(out[http::field::content_length], "5");
  EXPECT_FALSE(out.keep_alive());
}

TEST(ToWireTest, NoContentLengthForBodylessStatuses) {
  for (int status : {204, 304, 101}) {
    SCOPED_TRACE(status);
    core::HttpResponse res{.status = status, .headers = {{"X-A", "1"}}};
    WireResponse out = ToWire(res, 11, true);
    EXPECT_THAT(Fields(out), ElementsAre(F{"X-A", "1"}));
  }
}

TEST(ToWireTest, HopByHopRemoved) {
  core::HttpResponse res{.status = 200,
                         .headers = {{"Connection", "close, X-Hop"},
                                     {"Keep-Alive", "timeout=5"},
                                     {"X-Hop", "x"},
                                     {"Proxy-Authenticate", "Basic"},
                                     {"Content-Length", "0"},
                                     {"X-End", "e"}}};
  WireResponse out = ToWire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Content-Length", "0"}, F{"X-End", "e"}));
}

TEST(ToWireTest, KeepAliveHeaderFollowsTheClient) {
  core::HttpResponse res{.status = 200, .headers = {{"Content-Length", "0"}}};
  // HTTP/1.0 keeps the connection only when told so.
  WireResponse v10_keep = ToWire(res, 10, true);
  EXPECT_EQ(v10_keep[http::field::connection], "keep-alive");
  EXPECT_TRUE(v10_keep.keep_alive());
  WireResponse v10_close = ToWire(res, 10, false);
  EXPECT_EQ(v10_close.count(http::field::connection), 0u);
  EXPECT_FALSE(v10_close.keep_alive());
  // HTTP/1.1 keeps it unless told to close.
  WireResponse v11_keep = ToWire(res, 11, true);
  EXPECT_EQ(v11_keep.count(http::field::connection), 0u);
  EXPECT_TRUE(v11_keep.keep_alive());
  WireResponse v11_close = ToWire(res, 11, false);
  EXPECT_EQ(v11_close[http::field::connection], "close");
  EXPECT_FALSE(v11_close.keep_alive());
}

TEST(ToWireTest, ReasonKeptOrDefaulted) {
  core::HttpResponse res{.status = 404,
                         .reason = "Gone Fishing",
                         .headers = {{"Content-Length", "0"}}};
  EXPECT_EQ(ToWire(res, 11, true).reason(), "Gone Fishing");
  res.reason.clear();
  EXPECT_EQ(ToWire(res, 11, true).reason(), "Not Found");
}

TEST(ToWireTest, ProxyAuthenticateKeptOnlyOnAChallenge) {
  core::HttpResponse challenge{
      .status = 407,
      .headers = {{"Proxy-Authenticate", "Basic realm=\"matgto\""}}};
  EXPECT_EQ(ToWire(challenge, 11, false)[http::field::proxy_authenticate],
            "Basic realm=\"matgto\"");
  core::HttpResponse ok{
      .status = 200, .headers = {{"Proxy-Authenticate", "Basic realm=\"x\""}}};
  EXPECT_EQ(ToWire(ok, 11, false).count(http::field::proxy_authenticate), 0u);
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
