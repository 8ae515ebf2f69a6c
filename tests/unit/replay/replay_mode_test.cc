#include "server/replay/replay_mode.h"

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/core/clock.h"
#include "tests/unit/replay/mode_test_util.h"

namespace matgto::replay {
namespace {

using mode_test::AddHttp;
using mode_test::AddWs;
using mode_test::AsForward;
using mode_test::AsReply;
using mode_test::DefaultRedactor;
using mode_test::FakeModeHost;
using mode_test::kStart;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// GET /a -> "first", GET /a -> "second", POST /b -> "posted", then a
// WebSocket session on /ws ("hello" -> "world").
v1::Cassette Loaded() {
  v1::Cassette c;
  c.set_name("cas");
  AddHttp(c, Req("GET", "http://h/a"), Res("first"));
  AddHttp(c, Req("GET", "http://h/a"), Res("second"));
  AddHttp(c, Req("POST", "http://h/b", "x"), Res("posted"));
  AddWs(c, "http://h/ws", "hello", "world");
  return c;
}

class ReplayModeTest : public ::testing::Test {
 protected:
  std::unique_ptr<ReplayMode> NewMode(
      v1::CassetteOptions options = {},
      std::shared_ptr<const cassette::Redactor> redactor = DefaultRedactor()) {
    const v1::Cassette loaded = Loaded();
    ReplayMode::Setup setup{.ticket = 5,
                            .cassette = "cas",
                            .policy = ReplayPolicy::FromOptions(options),
                            .redactor = redactor,
                            .matcher = match::RequestMatcher(),
                            .recorder = std::nullopt};
    if (setup.policy.on_miss == OnMiss::kRecord) {
      setup.recorder.emplace(loaded, false, redactor, clock_, nullptr);
    }
    return std::make_unique<ReplayMode>(loaded, std::move(setup));
  }

  std::string Body(const core::Decision& d) {
    const core::Reply* reply = AsReply(d);
    if (reply == nullptr) return "<forward>";
    return reply->response->body;
  }

  core::FakeClock clock_{kStart};
  SessionCounters counters_;
  FakeModeHost host_;
};

TEST_F(ReplayModeTest, AnswersInRecordedOrderAndCountsReplays) {
  auto mode = NewMode();
  EXPECT_EQ(mode->mode(), v1::REPLAY);
  EXPECT_EQ(Body(mode->OnRequest(Req("GET", "http://h/a"), counters_)),
            "first");
  EXPECT_EQ(Body(mode->OnRequest(Req("GET", "http://h/a"), counters_)),
            "second");
  // Used up: the default exhausted policy repeats the last one.
  EXPECT_EQ(Body(mode->OnRequest(Req("GET", "http://h/a"), counters_)),
            "second");
  EXPECT_EQ(counters_.replayed, 3u);
  EXPECT_EQ(counters_.misses.count(), 0u);
  EXPECT_THAT(mode->Unused(), ElementsAre(2u, 3u));
  EXPECT_EQ(mode->replayable(), 4u);
}

TEST_F(ReplayModeTest, ReuseAnswersWithTheFirstRecordingEveryTime) {
  v1::CassetteOptions options;
  options.set_repeat(v1::REUSE);
  auto mode = NewMode(options);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Body(mode->OnRequest(Req("GET", "http://h/a"), counters_)),
              "first");
  }
  EXPECT_THAT(mode->Unused(), ElementsAre(1u, 2u, 3u));
}

TEST_F(ReplayModeTest, AMissAnswers599ThatNamesTheClosestRecording) {
  auto mode = NewMode();
  const core::Decision d =
      mode->OnRequest(Req("POST", "http://h/b", "y"), counters_);
  const core::Reply* reply = AsReply(d);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->error, "no-match");
  EXPECT_EQ(reply->response->status, kMissStatus);
  EXPECT_THAT(reply->response->body, HasSubstr("cassette 'cas'"));
  EXPECT_THAT(reply->response->body, HasSubstr("interaction #2"));
  EXPECT_EQ(counters_.misses.count(), 1u);
  ASSERT_EQ(counters_.misses.kept().size(), 1u);
  EXPECT_EQ(counters_.misses.kept()[0].reason(), "no-match");
  EXPECT_EQ(counters_.replayed, 0u);
}

TEST_F(ReplayModeTest, ExhaustedErrorMakesAUsedUpRequestAMiss) {
  v1::CassetteOptions options;
  options.set_on_exhausted(v1::EXHAUSTED_ERROR);
  auto mode = NewMode(options);
  mode->OnRequest(Req("POST", "http://h/b", "x"), counters_);
  const core::Decision d =
      mode->OnRequest(Req("POST", "http://h/b", "x"), counters_);
  ASSERT_NE(AsReply(d), nullptr);
  EXPECT_EQ(AsReply(d)->error, "exhausted");
  EXPECT_EQ(counters_.misses.count(), 1u);
}

TEST_F(ReplayModeTest, MissPassthroughForwardsAndRecordsNothing) {
  v1::CassetteOptions options;
  options.set_on_miss(v1::MISS_PASSTHROUGH);
  auto mode = NewMode(options);
  const core::HttpRequest request = Req("GET", "http://h/new");
  const core::Decision d = mode->OnRequest(request, counters_);
  ASSERT_NE(AsForward(d), nullptr);
  EXPECT_EQ(AsForward(d)->ticket, 5u);
  mode->OnForwarded(request, Res("live"), Timing(), counters_, nullptr);
  EXPECT_EQ(counters_.passed_through, 1u);
  EXPECT_EQ(counters_.misses.count(), 1u);
  EXPECT_EQ(counters_.misses.kept()[0].reason(), "no-match, passed through");
  EXPECT_EQ(mode->recorder(), nullptr);
  EXPECT_EQ(mode->recorded(), 0u);
  EXPECT_FALSE(mode->Recording()->has_value());
  // Not recorded: the next one is a miss again.
  EXPECT_NE(AsForward(mode->OnRequest(request, counters_)), nullptr);
}

TEST_F(ReplayModeTest, MissRecordAppendsTheExchangeWhichAnswersRepeats) {
  v1::CassetteOptions options;
  options.set_on_miss(v1::MISS_RECORD);
  auto mode = NewMode(options);
  // Nothing appended yet: the cassette is unchanged, nothing to save.
  EXPECT_FALSE(mode->Recording()->has_value());

  const core::HttpRequest request = Req("GET", "http://h/new");
  ASSERT_NE(AsForward(mode->OnRequest(request, counters_)), nullptr);
  mode->OnForwarded(request, Res("live"), Timing(), counters_, nullptr);
  EXPECT_EQ(counters_.misses.kept()[0].reason(), "no-match, recorded");
  EXPECT_EQ(counters_.passed_through, 1u);
  EXPECT_EQ(mode->recorded(), 1u);
  EXPECT_EQ(mode->replayable(), 5u);

  EXPECT_EQ(Body(mode->OnRequest(request, counters_)), "live");
  std::optional<v1::Cassette> recording = *mode->Recording();
  ASSERT_TRUE(recording.has_value());
  ASSERT_EQ(recording->interactions_size(), 5);
  EXPECT_EQ(recording->interactions(4).index(), 4u);
  EXPECT_EQ(recording->interactions(4).http().request().url(), "http://h/new");
  // The appended exchange was used when it was recorded.
  EXPECT_THAT(mode->Unused(), ElementsAre(0u, 1u, 2u, 3u));
}

TEST_F(ReplayModeTest, RedactsTheLiveRequestWhenRedactionChangesTheUrl) {
  cassette::RedactConfig config = cassette::RedactConfig::Defaults();
  config.query_params.push_back("token");
  auto redactor = std::make_shared<const cassette::Redactor>(config);
  // The cassette holds what the recorder wrote: the redacted URL.
  core::HttpRequest recorded = Req("GET", "http://h/t?token=abc");
  redactor->Redact(recorded);
  ASSERT_NE(recorded.url, "http://h/t?token=abc");
  v1::Cassette c;
  AddHttp(c, recorded, Res("tokened"));
  ReplayMode mode(c, ReplayMode::Setup{.ticket = 1,
                                       .cassette = "cas",
                                       .policy = ReplayPolicy{},
                                       .redactor = redactor,
                                       .matcher = match::RequestMatcher(),
                                       .recorder = std::nullopt});
  EXPECT_EQ(
      Body(mode.OnRequest(Req("GET", "http://h/t?token=other"), counters_)),
      "tokened");
}

TEST_F(ReplayModeTest, AWebSocketHitPlaysTheScriptAndReportsMismatches) {
  auto mode = NewMode();
  core::WsDecision d =
      mode->OnWebSocket(Req("GET", "http://h/ws"), host_, counters_);
  auto* replay = std::get_if<core::WsReplay>(&d);
  ASSERT_NE(replay, nullptr);
  EXPECT_EQ(counters_.replayed, 1u);
  EXPECT_EQ(replay->playback->upgrade_response().status, 101);
  core::WsStep step = replay->playback->Next();
  ASSERT_EQ(step.kind, core::WsStep::Kind::kExpect);
  EXPECT_TRUE(replay->playback->Check(core::WsMessage{.payload = "hello"}) ==
              std::nullopt);
  step = replay->playback->Next();
  ASSERT_EQ(step.kind, core::WsStep::Kind::kSend);
  EXPECT_EQ(step.message->payload, "world");
  // After the script, anything the client sends is a mismatch, reported
  // through the session.
  replay->playback->Next();
  EXPECT_TRUE(
      replay->playback->Check(core::WsMessage{.payload = "more"}).has_value());
  ASSERT_EQ(host_.mismatches.size(), 1u);
  EXPECT_EQ(host_.mismatches[0].url, "http://h/ws");
  EXPECT_EQ(host_.mismatches[0].interaction, 3u);
  EXPECT_EQ(host_.mismatches[0].got, "more");
  EXPECT_THAT(mode->Unused(), ElementsAre(0u, 1u, 2u));
}

TEST_F(ReplayModeTest, AWebSocketMissIs599EvenWhenMissesPassThrough) {
  v1::CassetteOptions options;
  options.set_on_miss(v1::MISS_PASSTHROUGH);
  auto mode = NewMode(options);
  core::WsDecision d =
      mode->OnWebSocket(Req("GET", "http://h/other"), host_, counters_);
  const auto* reply = std::get_if<core::Reply>(&d);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->response->status, kMissStatus);
  EXPECT_EQ(reply->error, "no-match");
  EXPECT_EQ(counters_.misses.count(), 1u);
  EXPECT_EQ(counters_.passed_through, 0u);
}

}  // namespace
}  // namespace matgto::replay
