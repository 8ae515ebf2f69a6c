#include "server/proxy/wire.h"

#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "boost/beast/http/write.hpp"
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

// ToWire for a response that must be sendable.
WireResponse Wire(const core::HttpResponse& response, int client_version,
                  bool keep_alive, bool head_request = false) {
  absl::StatusOr<WireResponse> out =
      ToWire(response, client_version, keep_alive, head_request);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::move(*out) : WireResponse{};
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

TEST(ToWireTest, ContentLengthAddedWhenUnframed) {
  core::HttpResponse res{.status = 200,
                         .reason = "OK",
                         .version = 10,
                         .headers = {{"Content-Type", "text/plain"}},
                         .body = "hello"};
  WireResponse out = Wire(res, 11, true);
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
  WireResponse out = Wire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Content-Length", "5"}, F{"X-A", "1"}));
}

TEST(ToWireTest, ChunkedKeptForHttp11Clients) {
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Transfer-Encoding", "chunked"}, {"X-A", "1"}},
      .body = "hello"};
  WireResponse out = Wire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Transfer-Encoding", "chunked"}, F{"X-A", "1"}));
  EXPECT_TRUE(out.chunked());
}

TEST(ToWireTest, TransferEncodingDroppedForHttp10Clients) {
  core::HttpResponse res{
      .status = 200,
      .headers = {{"Transfer-Encoding", "chunked"}, {"X-A", "1"}},
      .body = "hello"};
  WireResponse out = Wire(res, 10, false);
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
    WireResponse out = Wire(res, 11, true);
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
  WireResponse out = Wire(res, 11, true);
  EXPECT_THAT(Fields(out),
              ElementsAre(F{"Content-Length", "0"}, F{"X-End", "e"}));
}

TEST(ToWireTest, KeepAliveHeaderFollowsTheClient) {
  core::HttpResponse res{.status = 200, .headers = {{"Content-Length", "0"}}};
  // HTTP/1.0 keeps the connection only when told so.
  WireResponse v10_keep = Wire(res, 10, true);
  EXPECT_EQ(v10_keep[http::field::connection], "keep-alive");
  EXPECT_TRUE(v10_keep.keep_alive());
  WireResponse v10_close = Wire(res, 10, false);
  EXPECT_EQ(v10_close.count(http::field::connection), 0u);
  EXPECT_FALSE(v10_close.keep_alive());
  // HTTP/1.1 keeps it unless told to close.
  WireResponse v11_keep = Wire(res, 11, true);
  EXPECT_EQ(v11_keep.count(http::field::connection), 0u);
  EXPECT_TRUE(v11_keep.keep_alive());
  WireResponse v11_close = Wire(res, 11, false);
  EXPECT_EQ(v11_close[http::field::connection], "close");
  EXPECT_FALSE(v11_close.keep_alive());
}

TEST(ToWireTest, ReasonKeptOrDefaulted) {
  core::HttpResponse res{.status = 404,
                         .reason = "Gone Fishing",
                         .headers = {{"Content-Length", "0"}}};
  EXPECT_EQ(Wire(res, 11, true).reason(), "Gone Fishing");
  res.reason.clear();
  EXPECT_EQ(Wire(res, 11, true).reason(), "Not Found");
}

TEST(ToWireTest, ProxyAuthenticateKeptOnlyOnAChallenge) {
  core::HttpResponse challenge{
      .status = 407,
      .headers = {{"Proxy-Authenticate", "Basic realm=\"matgto\""}}};
  EXPECT_EQ(Wire(challenge, 11, false)[http::field::proxy_authenticate],
            "Basic realm=\"matgto\"");
  core::HttpResponse ok{
      .status = 200, .headers = {{"Proxy-Authenticate", "Basic realm=\"x\""}}};
  EXPECT_EQ(Wire(ok, 11, false).count(http::field::proxy_authenticate), 0u);
}

// A response that cannot be written as HTTP/1.1 (from a hand-edited
// cassette) is an error the connection answers with a 502, not an
// exception that breaks the client connection.
TEST(ToWireTest, UnsendableResponsesAreErrors) {
  for (int status : {0, 99, 1000, 70000, 100, 103}) {
    SCOPED_TRACE(status);
    core::HttpResponse res{.status = status};
    absl::StatusOr<WireResponse> out = ToWire(res, 11, true);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(out.status().message(),
                ::testing::HasSubstr(std::to_string(status)));
  }
  core::HttpResponse wrong{
      .status = 200, .headers = {{"Content-Length", "10"}}, .body = "hello"};
  absl::StatusOr<WireResponse> out = ToWire(wrong, 11, true);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "its Content-Length 10 disagrees with its body of 5 bytes");
  for (const char* bad : {"x", "5, 6", "-5", ""}) {
    SCOPED_TRACE(bad);
    core::HttpResponse res{
        .status = 200, .headers = {{"Content-Length", bad}}, .body = "hello"};
    EXPECT_FALSE(ToWire(res, 11, true).ok());
  }
}

TEST(ToWireTest, StoredLengthKeptForHeadAndBodylessResponses) {
  core::HttpResponse head{.status = 200, .headers = {{"Content-Length", "10"}}};
  EXPECT_EQ(
      Wire(head, 11, true, /*head_request=*/true)[http::field::content_length],
      "10");
  core::HttpResponse not_modified{.status = 304,
                                  .headers = {{"Content-Length", "10"}}};
  EXPECT_EQ(Wire(not_modified, 11, true)[http::field::content_length], "10");
  // "5, 5" is one length said twice; it leaves as one.
  core::HttpResponse twice{
      .status = 200, .headers = {{"Content-Length", "5, 5"}}, .body = "hello"};
  EXPECT_THAT(Fields(Wire(twice, 11, true)),
              ElementsAre(F{"Content-Length", "5"}));
}

TEST(ToWireTest, ReframedWhateverTheStoredFraming) {
  // A Transfer-Encoding we do not apply is dropped; the body gets a length.
  core::HttpResponse gzip_te{.status = 200,
                             .headers = {{"Transfer-Encoding", "gzip"}},
                             .body = "hello"};
  WireResponse out = Wire(gzip_te, 11, true);
  EXPECT_THAT(Fields(out), ElementsAre(F{"Content-Length", "5"}));
  EXPECT_FALSE(out.chunked());
  // Chunked and a length: chunked wins, the length goes (RFC 9112 6.3).
  core::HttpResponse both{
      .status = 200,
      .headers = {{"Content-Length", "99"}, {"Transfer-Encoding", "chunked"}},
      .body = "hello"};
  EXPECT_THAT(Fields(Wire(both, 11, true)),
              ElementsAre(F{"Transfer-Encoding", "chunked"}));
  // Listed in Connection, framing stays.
  core::HttpResponse listed{
      .status = 200,
      .headers = {{"Connection", "content-length"}, {"Content-Length", "5"}},
      .body = "hello"};
  EXPECT_THAT(Fields(Wire(listed, 11, true)),
              ElementsAre(F{"Content-Length", "5"}));
}

// What Beast writes for the whole ToWire message, as one string.
std::string Serialized(const core::HttpResponse& response, bool keep_alive) {
  WireResponse wire = Wire(response, 11, keep_alive);
  std::ostringstream out;
  out << wire;
  return out.str();
}

TEST(SerializeHeadsTest, HeadPlusBodyIsWhatBeastWrites) {
  const core::HttpResponse response{
      .status = 200,
      .reason = "OK",
      .headers = {{"Server", "nginx"},
                  {"Connection", "keep-alive, X-Hop"},
                  {"X-Hop", "1"},
                  {"Content-Length", "5"},
                  {"Set-Cookie", "a=1"},
                  {"Set-Cookie", "b=2"}},
      .body = "hello"};
  const SerializedHeads heads = SerializeHeads(response);
  EXPECT_EQ(heads.keep_alive + response.body, Serialized(response, true));
  EXPECT_EQ(heads.close + response.body, Serialized(response, false));
  EXPECT_NE(heads.keep_alive, heads.close);
  EXPECT_THAT(heads.close, ::testing::HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(heads.keep_alive, ::testing::Not(::testing::HasSubstr("X-Hop")));
}

TEST(SerializeHeadsTest, NoHeadsWhereTheBodyIsNotSentAsIs) {
  // Chunked on the wire, refused by ToWire, or no body at all: the
  // response takes the serializer's path, which knows what to do.
  EXPECT_TRUE(SerializeHeads(core::HttpResponse{
                                 .status = 200,
                                 .headers = {{"Transfer-Encoding", "chunked"}},
                                 .body = "abc"})
                  .keep_alive.empty());
  EXPECT_TRUE(
      SerializeHeads(core::HttpResponse{.status = 200,
                                        .headers = {{"Content-Length", "9"}},
                                        .body = "abc"})
          .close.empty());
  EXPECT_TRUE(
      SerializeHeads(core::HttpResponse{.status = 204}).keep_alive.empty());
  EXPECT_TRUE(
      SerializeHeads(core::HttpResponse{.status = 1000}).keep_alive.empty());
}

TEST(SerializeHeadsTest, KeptWithTheResponseNotWithItsCopies) {
  const core::HttpResponse response{.status = 200, .body = "x"};
  int made = 0;
  auto make = [&] {
    ++made;
    return SerializeHeads(response);
  };
  const SerializedHeads& first = response.wire.Get<SerializedHeads>(make);
  const SerializedHeads& again = response.wire.Get<SerializedHeads>(make);
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(made, 1);
  core::HttpResponse copy = response;
  copy.body = "changed";
  const SerializedHeads& other =
      copy.wire.Get<SerializedHeads>([&] { return SerializeHeads(copy); });
  EXPECT_NE(&other, &first);
  EXPECT_THAT(other.keep_alive, ::testing::HasSubstr("Content-Length: 7"));
  // The memo takes no part in equality.
  EXPECT_EQ(response, (core::HttpResponse{.status = 200, .body = "x"}));
}

// The header block built straight into bytes (WireHeadTo) is the one
// Beast writes for the ToWire message, for every client version,
// keep-alive and HEAD combination, and refused the same way.
TEST(WireHeadToTest, TheBytesBeastWritesForTheToWireMessage) {
  const std::vector<core::HttpResponse> responses = {
      {.status = 200,
       .reason = "OK",
       .headers = {{"Server", "nginx/1.22.1"},
                   {"Date", "Wed, 02 Dec 2026 23:50:14 GMT"},
                   {"Content-Type", "application/json"},
                   {"Content-Length", "5"},
                   {"Connection", "keep-alive"},
                   {"ETag", "\"6569-5\""},
                   {"Accept-Ranges", "bytes"}},
       .body = "hello"},
      {.status = 404, .body = "no length, no reason"},
      {.status = 599, .headers = {{"X-Pad", " \tpadded value\t "}}},
      {.status = 299, .reason = "Custom Reason", .body = "x"},
      {.status = 200,
       .headers = {{"Connection", "close, X-Hop"},
                   {"X-Hop", "1"},
                   {"Keep-Alive", "timeout=5"},
                   {"Upgrade", "h2c"},
                   {"Trailer", "X-T"},
                   {"Set-Cookie", "a=1"},
                   {"Set-Cookie", "b=2"}},
       .body = "hop"},
      {.status = 200,
       .headers = {{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}},
       .body = "abc"},
      {.status = 407,
       .headers = {{"Proxy-Authenticate", "Basic realm=\"x\""}},
       .body = "who?"},
      {.status = 401,
       .headers = {{"Proxy-Authenticate", "Basic realm=\"x\""}},
       .body = "not ours"},
      {.status = 204, .headers = {{"Content-Length", "0"}}},
      {.status = 304, .headers = {{"Content-Length", "10"}}},
      {.status = 200, .headers = {{"content-length", "5, 5"}}, .body = "twice"},
      {.status = 200, .headers = {{"Content-Length", "9"}}, .body = "abc"},
      {.status = 1000},
      {.status = 100},
      {.status = 101, .headers = {{"Upgrade", "websocket"}}},
  };
  for (const core::HttpResponse& response : responses) {
    for (const int version : {10, 11}) {
      for (const bool keep_alive : {true, false}) {
        for (const bool head_request : {false, true}) {
          SCOPED_TRACE(::testing::Message()
                       << ::testing::PrintToString(response) << " HTTP/"
                       << version << " keep_alive=" << keep_alive
                       << " head=" << head_request);
          std::string bytes = "stale";
          bool chunked = false;
          const absl::Status st = WireHeadTo(response, version, keep_alive,
                                             head_request, bytes, chunked);
          const absl::StatusOr<WireResponse> wire =
              ToWire(response, version, keep_alive, head_request);
          ASSERT_EQ(st, wire.status());
          if (!st.ok()) {
            EXPECT_THAT(bytes, IsEmpty());
            continue;
          }
          EXPECT_EQ(bytes, HeaderBytes(*wire));
          EXPECT_EQ(chunked, wire->chunked());
        }
      }
    }
  }
}

TEST(WireHeadToTest, RepeatedFieldsKeepTheirOrder) {
  // (Beast would move the second Set-Cookie up next to the first.)
  std::string bytes;
  bool chunked = true;
  ASSERT_TRUE(WireHeadTo(core::HttpResponse{.status = 200,
                                            .headers = {{"Set-Cookie", "a=1"},
                                                        {"X-Other", "x"},
                                                        {"Set-Cookie", "b=2"}},
                                            .body = "ab"},
                         11, true, false, bytes, chunked)
                  .ok());
  EXPECT_EQ(bytes,
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Other: x\r\n"
            "Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\n");
  EXPECT_FALSE(chunked);
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
