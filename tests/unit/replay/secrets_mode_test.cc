// Issue 11, "Secrets", where the recording and the replay decide: what the
// recorder stores (cassette and journal) for WebSocket messages, echoed
// secrets and bodies it cannot redact, and how replay redacts live requests
// and WebSocket client messages so that redacted recordings still match.
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <variant>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/journal.h"
#include "server/cassette/ws_codec.h"
#include "server/core/clock.h"
#include "server/replay/record_mode.h"
#include "server/replay/replay_mode.h"
#include "server/replay/rules.h"
#include "tests/unit/replay/mode_test_util.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::replay {
namespace {

using mode_test::AsReply;
using mode_test::FakeModeHost;
using mode_test::kStart;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kToken[] = "tok-7f3a9c2e41d8";

std::shared_ptr<const cassette::Redactor> RedactorFor(
    void (*fill)(v1::RedactRules&) = nullptr) {
  v1::RedactRules rules;
  if (fill != nullptr) fill(rules);
  auto config = ToRedactConfig(rules);
  EXPECT_TRUE(config.ok()) << config.status();
  return std::make_shared<const cassette::Redactor>(*std::move(config));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Everything a cassette stores, as one string to search for secrets.
std::string Everything(const v1::Cassette& c) { return c.DebugString(); }

class SecretsRecordTest : public ::testing::Test {
 protected:
  Recorder NewRecorder(std::shared_ptr<const cassette::Redactor> redactor,
                       std::unique_ptr<cassette::Journal> journal = nullptr) {
    v1::Cassette start;
    start.set_name("rec");
    return Recorder(start, /*decode_bodies=*/false, std::move(redactor), clock_,
                    std::move(journal));
  }

  core::FakeClock clock_{kStart};
};

TEST_F(SecretsRecordTest, WebSocketMessagesAreRedactedInTheCassetteAndJournal) {
  matgto::testing::TempDir dir;
  auto journal = cassette::Journal::Open(dir.path() + "/rec.pb.journal");
  ASSERT_TRUE(journal.ok()) << journal.status();
  Recorder recorder = NewRecorder(RedactorFor([](v1::RedactRules& r) {
                                    r.add_body_patterns("sk_[a-z0-9]+");
                                    r.add_json_pointers("/auth/key");
                                  }),
                                  *std::move(journal));
  const uint64_t ws = recorder.BeginWebSocket(
      Req("GET", "ws://h/feed"), core::HttpResponse{.status = 101}, kStart);
  recorder.AddWsMessage(
      ws, core::WsMessage{.direction = core::WsDirection::kClientToServer,
                          .kind = core::WsKind::kText,
                          .payload = R"({"auth":{"key":"k-0123456789"}})"});
  recorder.AddWsMessage(
      ws, core::WsMessage{.direction = core::WsDirection::kServerToClient,
                          .kind = core::WsKind::kText,
                          .payload = "welcome, sk_live42 / k-0123456789"});
  recorder.AddWsMessage(
      ws, core::WsMessage{.direction = core::WsDirection::kServerToClient,
                          .kind = core::WsKind::kBinary,
                          .payload = std::string("\x01\x02sk_bin9\x03", 10)});
  recorder.SetWsClose(
      ws, core::WsClose{.code = 4001, .reason = "bad key k-0123456789"});
  const v1::Cassette snapshot = *recorder.Snapshot();
  EXPECT_EQ(snapshot.interactions(0).websocket().close().reason(),
            "bad key [REDACTED]");
  const auto& messages = snapshot.interactions(0).websocket().messages();
  ASSERT_THAT(messages, SizeIs(3));
  EXPECT_EQ(messages[0].payload(), R"({"auth":{"key":"[REDACTED]"}})");
  EXPECT_EQ(messages[1].payload(), "welcome, [REDACTED] / [REDACTED]");
  EXPECT_EQ(messages[2].payload(), std::string("\x01\x02[REDACTED]\x03", 13));

  ASSERT_TRUE(recorder.journal()->Flush().ok());
  const std::string bytes = ReadFile(recorder.journal()->path());
  for (const char* secret : {"k-0123456789", "sk_live42", "sk_bin9"}) {
    EXPECT_THAT(bytes, Not(HasSubstr(secret))) << secret;
  }
  auto recovered = cassette::RecoverJournal(bytes, "journal");
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->interactions(0).websocket().messages(1).payload(),
            "welcome, [REDACTED] / [REDACTED]");
}

TEST_F(SecretsRecordTest, AnEchoedSecretIsScrubbedFromEveryStoredExchange) {
  Recorder recorder = NewRecorder(RedactorFor());
  // 0: a request that mentions the key before anything says it is secret.
  recorder.AddHttp(Req("GET", std::string("http://h/hint?k=") + kToken),
                   Res("ok"), Timing());
  // 1: the key in a credential header, echoed by the response.
  core::HttpRequest keyed = Req("GET", "http://h/me");
  keyed.headers.push_back({"X-Api-Key", kToken});
  core::HttpResponse echo = Res(std::string("key ") + kToken);
  echo.headers.push_back({"Location", std::string("/next?k=") + kToken});
  recorder.AddHttp(keyed, echo, Timing());
  const v1::Cassette c = *recorder.Snapshot();
  EXPECT_THAT(Everything(c), Not(HasSubstr(kToken)));
  EXPECT_EQ(c.interactions(0).http().request().url(),
            "http://h/hint?k=%5BREDACTED%5D");
  const core::HttpResponse stored =
      cassette::FromProto(c.interactions(1).http().response());
  EXPECT_EQ(stored.body, "key [REDACTED]");
  EXPECT_EQ(*core::FindHeader(stored.headers, "location"),
            "/next?k=%5BREDACTED%5D");
}

TEST_F(SecretsRecordTest, ASecretLearnedLaterIsScrubbedFromTheJournalToo) {
  matgto::testing::TempDir dir;
  auto journal = cassette::Journal::Open(dir.path() + "/rec.pb.journal");
  ASSERT_TRUE(journal.ok()) << journal.status();
  Recorder recorder = NewRecorder(RedactorFor(), *std::move(journal));
  // 0 and 1: the key appears before anything says it is secret, so the
  // journal holds it for a moment...
  recorder.AddHttp(Req("GET", "http://h/a"), Res(std::string("k=") + kToken),
                   Timing());
  recorder.AddHttp(Req("GET", "http://h/b"), Res("nothing here"), Timing());
  ASSERT_TRUE(recorder.journal()->Flush().ok());
  ASSERT_THAT(ReadFile(recorder.journal()->path()), HasSubstr(kToken));
  // 2: ...until a credential header makes it a secret.
  core::HttpRequest keyed = Req("GET", "http://h/me");
  keyed.headers.push_back({"X-Api-Key", kToken});
  recorder.AddHttp(keyed, Res("hi"), Timing());
  // 3: entries after the replacement are appended as usual.
  recorder.AddHttp(Req("GET", "http://h/c"), Res("after"), Timing());
  ASSERT_TRUE(recorder.journal()->Flush().ok());
  const std::string bytes = ReadFile(recorder.journal()->path());
  EXPECT_THAT(bytes, Not(HasSubstr(kToken)));
  auto recovered = cassette::RecoverJournal(bytes, "journal");
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_THAT(recovered->interactions(), SizeIs(4));
  EXPECT_EQ(recovered->interactions(0).http().response().body(),
            "k=[REDACTED]");
  EXPECT_EQ(recovered->interactions(1).http().response().body(),
            "nothing here");
  EXPECT_EQ(recovered->interactions(3).http().response().body(), "after");
  EXPECT_THAT(Everything(*recovered), Not(HasSubstr(kToken)));
  // Without a new secret the journal is never rewritten: one more entry
  // makes it grow by about that entry only.
  const size_t before = bytes.size();
  recorder.AddHttp(Req("GET", "http://h/d"), Res("more"), Timing());
  ASSERT_TRUE(recorder.journal()->Flush().ok());
  EXPECT_LT(ReadFile(recorder.journal()->path()).size(), before + 200);
}

// A secret per exchange must not make recording quadratic: once the
// journal is over 1 MiB, secrets its summary cannot rule out are looked for
// in its bytes each time it has grown by a quarter. Until then the journal
// may hold one; what is saved never does.
TEST_F(SecretsRecordTest, ALargeJournalIsLookedAtOnceItGrewByAQuarter) {
  matgto::testing::TempDir dir;
  auto journal = cassette::Journal::Open(dir.path() + "/rec.pb.journal");
  ASSERT_TRUE(journal.ok()) << journal.status();
  Recorder recorder = NewRecorder(RedactorFor(), *std::move(journal));
  const std::string other = "other-secret-0123456789";
  // Both values stored before anything says they are secret.
  recorder.AddHttp(Req("GET", "http://h/a"),
                   Res(absl::StrCat("k=", kToken, " o=", other)), Timing());
  const std::string filler(64 * 1024, 'x');
  auto fill = [&](int n) {
    for (int i = 0; i < n; ++i) {
      recorder.AddHttp(Req("GET", absl::StrCat("http://h/fill/", i)),
                       Res(filler), Timing());
    }
  };
  fill(20);  // 1.3 MiB
  auto learn = [&](const std::string& secret) {
    core::HttpRequest keyed = Req("GET", "http://h/me");
    keyed.headers.push_back({"X-Api-Key", secret});
    recorder.AddHttp(keyed, Res("hi"), Timing());
    ASSERT_TRUE(recorder.journal()->Flush().ok());
  };
  // (Not HasSubstr: a failure would print the whole journal.)
  auto in_journal = [&](const std::string& value) {
    return ReadFile(recorder.journal()->path()).find(value) !=
           std::string::npos;
  };
  // The first look at this size: the journal is scrubbed of `other`.
  learn(other);
  EXPECT_FALSE(in_journal(other));
  EXPECT_TRUE(in_journal(kToken));
  // The next one waits for a quarter more...
  learn(kToken);
  EXPECT_TRUE(in_journal(kToken));
  absl::StatusOr<v1::Cassette> saved = recorder.Snapshot();
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_THAT(Everything(*saved), Not(HasSubstr(kToken)));
  fill(4);
  ASSERT_TRUE(recorder.journal()->Flush().ok());
  EXPECT_TRUE(in_journal(kToken));
  // ...and is made once the journal grew by it (its size counting the
  // scrubbed copy that replaced it).
  fill(12);
  ASSERT_TRUE(recorder.journal()->Flush().ok());
  EXPECT_FALSE(in_journal(kToken));
  saved = recorder.Snapshot();
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_THAT(Everything(*saved), Not(HasSubstr(kToken)));
  EXPECT_THAT(Everything(*saved), Not(HasSubstr(other)));
  EXPECT_EQ(saved->interactions_size(), 1 + 20 + 2 + 16);
}

// The journal's summary of its bytes (GramFilter) rules a new secret out
// only when none of its forms is there: raw, JSON-escaped or percent-encoded,
// at any offset. Each form alone is found.
TEST_F(SecretsRecordTest, ASecretLearnedLaterIsFoundInEveryFormItWasStoredIn) {
  const std::string secret = "s3cr3t/with+signs=0123456789";
  const std::string escaped = "s3cr3t\\/with+signs=0123456789";
  const std::string encoded = "s3cr3t%2Fwith%2Bsigns%3D0123456789";
  const std::vector<std::pair<core::HttpRequest, core::HttpResponse>> stored = {
      {Req("GET", "http://h/a"), Res("xyz" + secret)},
      {Req("GET", "http://h/b?k=" + encoded), Res("ok")},
      {Req("GET", "http://h/c"), Res("{\"k\":\"" + escaped + "\"}")}};
  for (const auto& [request, response] : stored) {
    SCOPED_TRACE(request.url);
    matgto::testing::TempDir dir;
    auto journal = cassette::Journal::Open(dir.path() + "/rec.pb.journal");
    ASSERT_TRUE(journal.ok()) << journal.status();
    Recorder recorder = NewRecorder(RedactorFor(), *std::move(journal));
    recorder.AddHttp(request, response, Timing());
    core::HttpRequest keyed = Req("GET", "http://h/me");
    keyed.headers.push_back({"X-Api-Key", secret});
    recorder.AddHttp(keyed, Res("hi"), Timing());
    ASSERT_TRUE(recorder.journal()->Flush().ok());
    const std::string bytes = ReadFile(recorder.journal()->path());
    EXPECT_THAT(bytes, Not(HasSubstr(secret)));
    EXPECT_THAT(bytes, Not(HasSubstr(escaped)));
    EXPECT_THAT(bytes, Not(HasSubstr(encoded)));
    auto recovered = cassette::RecoverJournal(bytes, "journal");
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    EXPECT_THAT(recovered->interactions(), SizeIs(2));
  }
}

// Sessions draft exchanges on their I/O threads before taking their lock
// (Recorder::DraftHttp): one drafted before another thread learned a secret
// is committed after it, and must not keep the secret.
TEST_F(SecretsRecordTest, AnExchangeDraftedBeforeASecretWasLearnedIsScrubbed) {
  matgto::testing::TempDir dir;
  auto journal = cassette::Journal::Open(dir.path() + "/rec.pb.journal");
  ASSERT_TRUE(journal.ok()) << journal.status();
  Recorder recorder = NewRecorder(RedactorFor(), *std::move(journal));
  Recorder::Draft early = recorder.DraftHttp(
      Req("GET", "http://h/a"), Res(std::string("k=") + kToken), Timing());
  std::thread other([&] {
    core::HttpRequest keyed = Req("GET", "http://h/me");
    keyed.headers.push_back({"X-Api-Key", kToken});
    EXPECT_EQ(recorder.AddHttp(keyed, Res("hi"), Timing()), 0u);
  });
  other.join();
  Recorder::Stored stored;
  EXPECT_EQ(recorder.Commit(early, &stored), 1u);
  EXPECT_EQ(stored.response.body, "k=[REDACTED]");
  ASSERT_TRUE(recorder.journal()->Flush().ok());
  const std::string bytes = ReadFile(recorder.journal()->path());
  EXPECT_THAT(bytes, Not(HasSubstr(kToken)));
  auto recovered = cassette::RecoverJournal(bytes, "journal");
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_THAT(recovered->interactions(), SizeIs(2));
  EXPECT_EQ(recovered->interactions(0).http().request().url(), "http://h/me");
  EXPECT_EQ(recovered->interactions(1).index(), 1u);
  EXPECT_EQ(recovered->interactions(1).http().response().body(),
            "k=[REDACTED]");
}

core::HttpResponse Zstd() {
  core::HttpResponse res = Res("(zstd) {\"password\":\"p-0123456789\"}");
  res.headers.push_back({"Content-Encoding", "zstd"});
  return res;
}

TEST_F(SecretsRecordTest, AnUndecodableBodyIsStoredWithAWarningByDefault) {
  Recorder recorder = NewRecorder(RedactorFor());
  EXPECT_EQ(recorder.AddHttp(Req("GET", "http://h/z"), Zstd(), Timing()), 0u);
  EXPECT_EQ(recorder.size(), 1u);
  ASSERT_THAT(recorder.Warnings(), SizeIs(1));
  EXPECT_THAT(recorder.Warnings()[0], HasSubstr("GET http://h/z"));
  EXPECT_THAT(recorder.Warnings()[0], HasSubstr("zstd"));
  EXPECT_THAT(recorder.Warnings()[0], HasSubstr("stored as sent"));
  // A body that decodes leaves no warning.
  recorder.AddHttp(Req("GET", "http://h/ok"), Res("fine"), Timing());
  EXPECT_THAT(recorder.Warnings(), SizeIs(1));
}

TEST_F(SecretsRecordTest, RefuseDoesNotStoreAnUndecodableBody) {
  Recorder recorder = NewRecorder(RedactorFor([](v1::RedactRules& r) {
    r.set_on_unredactable(v1::UNREDACTABLE_REFUSE);
  }));
  EXPECT_EQ(recorder.AddHttp(Req("GET", "http://h/z"), Zstd(), Timing()),
            std::nullopt);
  EXPECT_EQ(recorder.size(), 0u);
  ASSERT_THAT(recorder.Warnings(), SizeIs(1));
  EXPECT_THAT(recorder.Warnings()[0], HasSubstr("was not stored"));
  EXPECT_EQ(recorder.AddHttp(Req("GET", "http://h/ok"), Res("fine"), Timing()),
            0u);
}

TEST_F(SecretsRecordTest, WarningsAreBounded) {
  Recorder recorder = NewRecorder(RedactorFor());
  for (size_t i = 0; i < Recorder::kMaxWarnings + 5; ++i) {
    recorder.AddHttp(Req("GET", "http://h/z"), Zstd(), Timing());
  }
  const std::vector<std::string> warnings = recorder.Warnings();
  ASSERT_THAT(warnings, SizeIs(Recorder::kMaxWarnings + 1));
  EXPECT_THAT(warnings.back(), HasSubstr("5 more"));
}

TEST(SecretsRulesTest, UnknownOnUnredactableIsInvalidArgument) {
  v1::RedactRules rules;
  rules.set_on_unredactable(static_cast<v1::UnredactablePolicy>(9));
  EXPECT_EQ(ToRedactConfig(rules).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class SecretsReplayTest : public ::testing::Test {
 protected:
  // Records `exchanges` through a Recorder, then replays what it stored.
  std::unique_ptr<ReplayMode> Replay(const v1::Cassette& recorded,
                                     v1::CassetteOptions options = {}) {
    ReplayMode::Setup setup{.ticket = 5,
                            .cassette = "cas",
                            .policy = ReplayPolicy::FromOptions(options),
                            .redactor = redactor_,
                            .matcher = match::RequestMatcher(),
                            .recorder = std::nullopt};
    return std::make_unique<ReplayMode>(recorded, std::move(setup));
  }

  std::string Body(const core::Decision& d) {
    const core::Reply* reply = AsReply(d);
    return reply == nullptr ? "<forward>" : reply->response->body;
  }

  std::shared_ptr<const cassette::Redactor> redactor_ = RedactorFor();
  core::FakeClock clock_{kStart};
  SessionCounters counters_;
  FakeModeHost host_;
};

TEST_F(SecretsReplayTest, RequestsCarryingARedactedTokenStillMatch) {
  v1::Cassette start;
  Recorder recorder(start, false, redactor_, clock_, nullptr);
  // A token response, then a request with the token in a header and echoed
  // in the query string and the body.
  recorder.AddHttp(
      Req("POST", "http://auth/token", "grant_type=client_credentials"),
      Res(std::string(R"({"access_token":")") + kToken + "\"}"), Timing());
  auto use = [](absl::string_view token) {
    core::HttpRequest r =
        Req("POST", absl::StrCat("http://api/items?t=", token),
            absl::StrCat("token=", token));
    r.headers.push_back({"Authorization", absl::StrCat("Bearer ", token)});
    r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    return r;
  };
  recorder.AddHttp(use(kToken), Res("items"), Timing());
  const v1::Cassette c = *recorder.Snapshot();
  ASSERT_THAT(Everything(c), Not(HasSubstr(kToken)));

  // Replay in a client that got "[REDACTED]" from the replayed token
  // response and sends it back (percent-encoded or not)...
  auto mode = Replay(c);
  EXPECT_EQ(Body(mode->OnRequest(Req("POST", "http://auth/token",
                                     "grant_type=client_credentials"),
                                 counters_)),
            R"({"access_token":"[REDACTED]"})");
  EXPECT_EQ(Body(mode->OnRequest(use("[REDACTED]"), counters_)), "items");
  EXPECT_EQ(Body(mode->OnRequest(use("%5BREDACTED%5D"), counters_)), "items");
  // ... and in one that has a real token of its own: the live request is
  // redacted (header, then the same value wherever it is echoed) first.
  auto again = Replay(c);
  EXPECT_EQ(Body(again->OnRequest(use("live-token-123456"), counters_)),
            "items");
}

TEST_F(SecretsReplayTest, WebSocketClientMessagesAreRedactedBeforeTheCheck) {
  redactor_ = RedactorFor(
      [](v1::RedactRules& r) { r.add_body_patterns("sk_[a-z0-9]+"); });
  v1::Cassette start;
  Recorder recorder(start, false, redactor_, clock_, nullptr);
  const uint64_t ws = recorder.BeginWebSocket(
      Req("GET", "ws://h/feed"),
      core::HttpResponse{.status = 101, .reason = "Switching Protocols"},
      kStart);
  recorder.AddWsMessage(
      ws,
      core::WsMessage{.direction = core::WsDirection::kClientToServer,
                      .kind = core::WsKind::kText,
                      .payload = R"({"key":"sk_abc","password":"pw-123"})"});
  recorder.AddWsMessage(
      ws, core::WsMessage{.direction = core::WsDirection::kServerToClient,
                          .kind = core::WsKind::kText,
                          .payload = "ok"});
  auto mode = Replay(*recorder.Snapshot());
  core::WsDecision d =
      mode->OnWebSocket(Req("GET", "ws://h/feed"), host_, counters_);
  auto* replay = std::get_if<core::WsReplay>(&d);
  ASSERT_NE(replay, nullptr);
  ASSERT_EQ(replay->playback->Next().kind, core::WsStep::Kind::kExpect);
  // Another live key, another password: equal once redacted.
  EXPECT_EQ(replay->playback->Check(core::WsMessage{
                .kind = core::WsKind::kText,
                .payload = R"({"key":"sk_other","password":"pw-456"})"}),
            std::nullopt);
  EXPECT_THAT(host_.mismatches, IsEmpty());
  // A real difference is still one, and the report shows it redacted.
  auto mode2 = Replay(*recorder.Snapshot());
  d = mode2->OnWebSocket(Req("GET", "ws://h/feed"), host_, counters_);
  replay = std::get_if<core::WsReplay>(&d);
  ASSERT_NE(replay, nullptr);
  replay->playback->Next();
  EXPECT_TRUE(replay->playback
                  ->Check(core::WsMessage{.kind = core::WsKind::kText,
                                          .payload = "sk_leak hello"})
                  .has_value());
  ASSERT_THAT(host_.mismatches, SizeIs(1));
  EXPECT_EQ(host_.mismatches[0].got, "[REDACTED] hello");
}

}  // namespace
}  // namespace matgto::replay
