// Issue 11, "Secrets": a value redacted anywhere is scrubbed everywhere,
// token fields are redacted by default, WebSocket messages go through the
// same rules as bodies, multiple content codings are undone in the right
// order, and a body a rule cannot see is reported instead of stored
// silently. No sockets: these are the decisions themselves.
#include "server/cassette/secrets.h"

#include <re2/re2.h>
#include <zlib.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/redact.h"
#include "server/core/content_coding.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::cassette {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kToken[] = "tok-7f3a9c2e41d8";

// gzip (window_bits 16 + 15) or zlib deflate (15) of `in`.
std::string Compress(const std::string& in, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
std::string Gzip(const std::string& in) { return Compress(in, 16 + 15); }
std::string Deflate(const std::string& in) { return Compress(in, 15); }

core::HttpRequest Get(std::string url) {
  return core::HttpRequest{.method = "GET", .url = std::move(url)};
}

core::HttpResponse Ok(std::string body, std::string type = "application/json") {
  return core::HttpResponse{
      .status = 200,
      .reason = "OK",
      .headers = {{"Content-Type", std::move(type)},
                  {"Content-Length", std::to_string(body.size())}},
      .body = std::move(body)};
}

TEST(ScrubberTest, ReplacesRawEncodedAndJsonEscapedForms) {
  Scrubber s({"a/b c+d=e"});
  std::string text =
      "raw a/b c+d=e, url a%2Fb%20c%2Bd%3De, lower a%2fb%20c%2bd%3de, form "
      "a%2Fb+c%2Bd%3De, json a\\/b c+d=e.";
  EXPECT_TRUE(s.Scrub(text));
  EXPECT_EQ(text,
            "raw [REDACTED], url %5BREDACTED%5D, lower %5BREDACTED%5D, form "
            "%5BREDACTED%5D, json [REDACTED].");
  std::string clean = "nothing here";
  EXPECT_FALSE(s.Scrub(clean));
}

TEST(ScrubberTest, ALongerSecretIsReplacedWhole) {
  Scrubber s({"abcdefgh", "abcdefgh-longer"});
  std::string text = "x abcdefgh-longer y abcdefgh z";
  s.Scrub(text);
  EXPECT_EQ(text, "x [REDACTED] y [REDACTED] z");
}

TEST(KnownSecretsTest, SecretsLearnedOneAtATimeAreAllScrubbed) {
  // A session that learns a token per exchange: every one of them, in every
  // form, whatever segment it was compiled into.
  KnownSecrets secrets;
  std::vector<std::string> tokens;
  for (int i = 0; i < 300; ++i) {
    tokens.push_back(absl::StrCat("token-", 100000 + i, "-x"));
    secrets.Add({tokens.back()});
  }
  EXPECT_EQ(secrets.size(), 300u);
  std::string text;
  for (const std::string& t : tokens) {
    absl::StrAppend(&text, t, " ", t, "/", "\"", t, "\" ");
  }
  const std::shared_ptr<const Scrubber> scrubber = secrets.scrubber();
  EXPECT_TRUE(scrubber->Finds(text));
  EXPECT_TRUE(scrubber->Scrub(text));
  EXPECT_THAT(text, Not(HasSubstr("token-")));
  EXPECT_FALSE(scrubber->Finds(text));
  EXPECT_THAT(secrets.Since(298), ElementsAre(tokens[298], tokens[299]));
}

TEST(KnownSecretsTest, ASecretContainingOneLearnedBeforeIsReplacedWhole) {
  KnownSecrets secrets;
  for (int i = 0; i < 40; ++i) secrets.Add({absl::StrCat("other-secret-", i)});
  secrets.Add({"abcdefgh12"});
  for (int i = 40; i < 80; ++i) secrets.Add({absl::StrCat("other-secret-", i)});
  // Learned last, in a segment of its own: replaced segment by segment it
  // would be cut by the shorter one ("[REDACTED]34567" would show its end).
  secrets.Add({"abcdefgh1234567"});
  std::string text = "x abcdefgh1234567 y abcdefgh12 z";
  EXPECT_TRUE(secrets.scrubber()->Scrub(text));
  EXPECT_EQ(text, "x [REDACTED] y [REDACTED] z");
  // And the other way round: a shorter one learned after a longer one.
  secrets.Add({"zyxwvutsrq"});
  for (int i = 80; i < 120; ++i)
    secrets.Add({absl::StrCat("other-secret-", i)});
  secrets.Add({"yxwvutsr"});
  text = "zyxwvutsrq yxwvutsr other-secret-100 other-secret-1";
  EXPECT_TRUE(secrets.scrubber()->Scrub(text));
  EXPECT_EQ(text, "[REDACTED] [REDACTED] [REDACTED] [REDACTED]");
}

TEST(KnownSecretsTest, IgnoresShortValuesAndThePlaceholder) {
  KnownSecrets known;
  known.Add({"1", "dark", "seven77", "[REDACTED]", "eight888", "eight888"});
  EXPECT_EQ(known.size(), 1u);
  std::string text = "1 dark seven77 eight888";
  known.scrubber()->Scrub(text);
  EXPECT_EQ(text, "1 dark seven77 [REDACTED]");
}

TEST(EchoTest, AHeaderSecretEchoedInTheResponseBodyAndLocationIsScrubbed) {
  Redactor redactor(RedactConfig::Defaults());
  KnownSecrets known;
  core::HttpRequest req = Get("http://api/me");
  req.headers.push_back({"Authorization", std::string("Bearer ") + kToken});
  core::HttpResponse res =
      Ok(std::string(R"({"you_sent":")") + kToken + R"(","n":1})");
  res.status = 302;
  res.headers.push_back(
      {"Location", std::string("https://app/cb?code=") + kToken + "&s=1"});
  res.headers.push_back({"X-Debug", std::string("token was ") + kToken});
  const RedactReport report = redactor.RedactExchange(req, &res, known);
  EXPECT_THAT(report.unredactable, IsEmpty());
  EXPECT_EQ(res.body, R"({"you_sent":"[REDACTED]","n":1})");
  EXPECT_EQ(*core::FindHeader(res.headers, "content-length"),
            std::to_string(res.body.size()));
  EXPECT_EQ(*core::FindHeader(res.headers, "location"),
            "https://app/cb?code=%5BREDACTED%5D&s=1");
  EXPECT_EQ(*core::FindHeader(res.headers, "x-debug"), "token was [REDACTED]");
}

TEST(EchoTest, ASecretLearnedEarlierIsScrubbedFromLaterExchanges) {
  Redactor redactor(RedactConfig::Defaults());
  KnownSecrets known;
  // A token response: access_token is redacted by default, and learned.
  core::HttpRequest login{
      .method = "POST",
      .url = "http://auth/token",
      .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
      .body = "grant_type=password&username=bob&password=hunter2-long"};
  core::HttpResponse token = Ok(std::string(R"({"access_token":")") + kToken +
                                R"(","token_type":"Bearer"})");
  redactor.RedactExchange(login, &token, known);
  EXPECT_EQ(login.body,
            "grant_type=password&username=bob&password=%5BREDACTED%5D");
  EXPECT_EQ(token.body,
            R"({"access_token":"[REDACTED]","token_type":"Bearer"})");
  // A later request carries the token in a query parameter no rule names,
  // percent-encoded or not, and in a body.
  core::HttpRequest use =
      Get(std::string("http://api/items?t=") + kToken + "&page=2");
  use.headers.push_back({"X-Trace", kToken});
  core::HttpResponse echo = Ok(std::string("hello ") + kToken, "text/plain");
  redactor.RedactExchange(use, &echo, known);
  EXPECT_EQ(use.url, "http://api/items?t=%5BREDACTED%5D&page=2");
  EXPECT_EQ(use.headers[0].value, "[REDACTED]");
  EXPECT_EQ(echo.body, "hello [REDACTED]");
  // The host is never scrubbed, whatever the secret.
  EXPECT_THAT(use.url, HasSubstr("http://api/"));
}

TEST(EchoTest, ABasicPasswordIsLearnedDecoded) {
  Redactor redactor(RedactConfig::Defaults());
  KnownSecrets known;
  core::HttpRequest req = Get("http://api/");
  // base64("bob:correct-horse")
  req.headers.push_back({"Authorization", "Basic Ym9iOmNvcnJlY3QtaG9yc2U="});
  core::HttpResponse res = Ok("your password is correct-horse", "text/plain");
  redactor.RedactExchange(req, &res, known);
  EXPECT_EQ(res.body, "your password is [REDACTED]");
}

TEST(EchoTest, ALiveRequestIsRedactedLikeTheRecordedOne) {
  Redactor redactor(RedactConfig::Defaults());
  KnownSecrets recording;
  KnownSecrets matching;
  auto make = [] {
    core::HttpRequest r{.method = "POST",
                        .url = std::string("http://api/x?sig=") + kToken,
                        .headers = {{"X-Api-Key", kToken}},
                        .body = std::string("key=") + kToken};
    return r;
  };
  core::HttpRequest recorded = make();
  core::HttpResponse res = Ok("ok", "text/plain");
  redactor.RedactExchange(recorded, &res, recording);
  core::HttpRequest live = make();
  redactor.RedactExchange(live, nullptr, matching);
  EXPECT_EQ(live, recorded);
  EXPECT_THAT(recorded.url, Not(HasSubstr(kToken)));
  EXPECT_THAT(recorded.body, Not(HasSubstr(kToken)));
  // A client that sends back the placeholder it was replayed writes it raw
  // or encoded: both compare like the recording.
  core::HttpRequest raw = Get("http://api/x?sig=[REDACTED]");
  redactor.RedactExchange(raw, nullptr, matching);
  EXPECT_EQ(raw.url, recorded.url);
}

TEST(TokenFieldsTest, RedactedByDefaultInJsonAtAnyDepthFormsAndQueries) {
  Redactor redactor(RedactConfig::Defaults());
  core::HttpResponse res =
      Ok(R"({"data":{"Access_Token":"a1","list":[{"refresh_token":"r1"}],)"
         R"("id_token":"i1","client_secret":"c1","password":"p1",)"
         R"("accessToken":"a2","keep":"k"}})");
  redactor.Redact(res);
  EXPECT_EQ(res.body,
            R"({"data":{"Access_Token":"[REDACTED]","list":[{"refresh_token":)"
            R"("[REDACTED]"}],"id_token":"[REDACTED]","client_secret":)"
            R"("[REDACTED]","password":"[REDACTED]","accessToken":)"
            R"("[REDACTED]","keep":"k"}})");
  core::HttpRequest form{
      .method = "POST",
      .url = "http://a/token?client_secret=s&x=1",
      .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
      .body = "client_secret=s&refresh_token=r&scope=a"};
  redactor.Redact(form);
  EXPECT_EQ(form.url, "http://a/token?client_secret=%5BREDACTED%5D&x=1");
  EXPECT_EQ(form.body,
            "client_secret=%5BREDACTED%5D&refresh_token=%5BREDACTED%5D&"
            "scope=a");
  // disable_defaults turns them off with the credential headers.
  Redactor none(RedactConfig{});
  core::HttpResponse kept = Ok(R"({"access_token":"a1"})");
  none.Redact(kept);
  EXPECT_EQ(kept.body, R"({"access_token":"a1"})");
}

TEST(TokenFieldsTest, ANameWrittenWithEscapesIsRedactedToo) {
  // "pass\u0077ord" is "password" once parsed, as the upstream's client
  // reads it.
  Redactor redactor(RedactConfig::Defaults());
  core::HttpResponse res =
      Ok(R"({"pass\u0077ord":"p-0123456789","a\"b":1,"keep":"k"})");
  redactor.Redact(res);
  EXPECT_THAT(res.body, Not(HasSubstr("p-0123456789")));
  EXPECT_THAT(res.body, HasSubstr(R"("password":"[REDACTED]")"));
  EXPECT_THAT(res.body, HasSubstr(R"("keep":"k")"));
}

TEST(TokenFieldsTest, ANameOnlyMentionedIsLeftAsItIs) {
  Redactor redactor(RedactConfig::Defaults());
  // A value that reads like a name, and the name in text that is not JSON.
  const std::string json = R"({"field":"password","n":[1,2]} )";
  core::HttpResponse value = Ok(json);
  redactor.Redact(value);
  EXPECT_EQ(value.body, json);
  const std::string text = R"(say "password": "hunter2-long" to pass)";
  core::HttpResponse plain = Ok(text, "text/plain");
  redactor.Redact(plain);
  EXPECT_EQ(plain.body, text);
  // The last name of a body, right before its end.
  core::HttpResponse last = Ok(R"({"a":1,"ACCESSTOKEN":"t-0123456789"})");
  redactor.Redact(last);
  EXPECT_EQ(last.body, R"({"a":1,"ACCESSTOKEN":"[REDACTED]"})");
}

TEST(WebSocketRedactionTest, TextAndJsonMessagesFollowTheBodyRules) {
  RedactConfig config = RedactConfig::Defaults();
  config.json_pointers.push_back("/auth/key");
  config.body_patterns.push_back(
      std::make_shared<const re2::RE2>("sk_[a-z0-9]+"));
  Redactor redactor(config);
  KnownSecrets known;
  core::WsMessage json{.kind = core::WsKind::kText,
                       .payload = R"({"auth":{"key":"k-0123456789"},)"
                                  R"("access_token":"t-0123456789"})"};
  redactor.RedactMessage(json, known);
  EXPECT_EQ(json.payload,
            R"({"auth":{"key":"[REDACTED]"},"access_token":"[REDACTED]"})");
  core::WsMessage text{.kind = core::WsKind::kText,
                       .payload = "use sk_live42 then k-0123456789"};
  redactor.RedactMessage(text, known);
  EXPECT_EQ(text.payload, "use [REDACTED] then [REDACTED]");
  // The values learned from messages are scrubbed from later exchanges.
  core::HttpRequest req = Get("http://h/?x=t-0123456789");
  redactor.RedactExchange(req, nullptr, known);
  EXPECT_EQ(req.url, "http://h/?x=%5BREDACTED%5D");
}

TEST(ContentCodingTest, TwoCodingsAreUndoneLastFirst) {
  const std::string json = R"({"password":"p-0123456789","a":1})";
  // "deflate, gzip": deflated first, then gzipped.
  const std::string body = Gzip(Deflate(json));
  auto decoded = core::DecodeContent(body, "deflate, gzip");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, json);
  // The same codings on two header lines.
  core::Headers lines = {{"Content-Encoding", "deflate"},
                         {"Content-Encoding", "gzip"}};
  EXPECT_EQ(core::ContentEncodingOf(lines), "deflate, gzip");
  EXPECT_EQ(core::DecodedBody(lines, body), json);
}

TEST(ContentCodingTest, RedactionSeesThroughTwoCodings) {
  Redactor redactor(RedactConfig::Defaults());
  KnownSecrets known;
  core::HttpRequest req = Get("http://h/");
  core::HttpResponse res =
      Ok(Gzip(Deflate(R"({"password":"p-0123456789","a":1})")));
  res.headers.push_back({"Content-Encoding", "deflate, gzip"});
  const RedactReport report = redactor.RedactExchange(req, &res, known);
  EXPECT_THAT(report.unredactable, IsEmpty());
  EXPECT_EQ(res.body, R"({"password":"[REDACTED]","a":1})");
  EXPECT_EQ(core::FindHeader(res.headers, "content-encoding"), nullptr);
}

TEST(ContentCodingTest, AnUnknownCodingIsReportedNotSilentlySkipped) {
  Redactor redactor(RedactConfig::Defaults());
  KnownSecrets known;
  core::HttpRequest req = Get("http://h/");
  core::HttpResponse res = Ok("(zstd bytes) password=p-0123456789");
  res.headers.push_back({"Content-Encoding", "zstd"});
  const RedactReport report = redactor.RedactExchange(req, &res, known);
  ASSERT_THAT(report.unredactable, SizeIs(1));
  EXPECT_THAT(report.unredactable[0], HasSubstr("response body"));
  EXPECT_THAT(report.unredactable[0], HasSubstr("zstd"));
  // A corrupt gzip body is reported the same way.
  core::HttpResponse corrupt = Ok("not gzip at all");
  corrupt.headers.push_back({"Content-Encoding", "gzip"});
  EXPECT_THAT(redactor.RedactExchange(req, &corrupt, known).unredactable,
              SizeIs(1));
  // Without any body rule there is nothing that could not be applied.
  Redactor headers_only(RedactConfig{.headers = {"authorization"}});
  KnownSecrets none;
  core::HttpResponse plain = Ok("zzz");
  plain.headers.push_back({"Content-Encoding", "zstd"});
  EXPECT_THAT(headers_only.RedactExchange(req, &plain, none).unredactable,
              IsEmpty());
}

}  // namespace
}  // namespace matgto::cassette
