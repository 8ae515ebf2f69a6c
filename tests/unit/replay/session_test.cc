// CassetteSession as the owner of a mode handler: which handler a setup
// gets, the callbacks that outlive a call (WebSocket recording, replay
// mismatches), counters, and what End() stops.
#include "server/replay/session.h"

#include <memory>
#include <optional>
#include <utility>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/clock.h"
#include "tests/unit/replay/mode_test_util.h"

namespace matgto::replay {
namespace {

using mode_test::AddHttp;
using mode_test::AddWs;
using mode_test::AsForward;
using mode_test::AsReply;
using mode_test::DefaultRedactor;
using mode_test::kStart;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;
using ::testing::ElementsAre;

class CassetteSessionTest : public ::testing::Test {
 protected:
  std::shared_ptr<CassetteSession> NewSession(
      v1::Mode mode, std::optional<v1::Cassette> loaded = std::nullopt,
      v1::CassetteOptions options = {}) {
    return std::make_shared<CassetteSession>(
        SessionSetup{.id = 42,
                     .name = "cas",
                     .requested_mode = v1::AUTO,
                     .mode = mode,
                     .options = std::move(options),
                     .loaded = std::move(loaded),
                     .redactor = DefaultRedactor(),
                     .matcher = match::RequestMatcher(),
                     .clock = &clock_,
                     .journal = nullptr});
  }

  static v1::Cassette Loaded() {
    v1::Cassette c;
    c.set_name("cas");
    AddHttp(c, Req("GET", "http://h/a"), Res("a"));
    AddWs(c, "http://h/ws", "hello", "world");
    return c;
  }

  core::FakeClock clock_{kStart};
};

TEST_F(CassetteSessionTest, RecordForwardsAndRecordsUntilEnd) {
  auto session = NewSession(v1::RECORD);
  EXPECT_EQ(session->mode(), v1::RECORD);
  EXPECT_EQ(session->id(), 42u);
  EXPECT_EQ(session->name(), "cas");
  const core::Decision d = session->OnRequest(Req("GET", "http://h/a"));
  ASSERT_NE(AsForward(d), nullptr);
  EXPECT_EQ(AsForward(d)->ticket, 42u);
  session->OnForwarded(Req("GET", "http://h/a"), Res("a"), Timing());
  session->OnForwardFailed();

  v1::SessionInfo info = session->Info();
  EXPECT_EQ(info.mode(), v1::RECORD);
  EXPECT_EQ(info.requested_mode(), v1::AUTO);
  EXPECT_EQ(info.recorded(), 1u);

  session->End();
  session->OnForwarded(Req("GET", "http://h/late"), Res("late"), Timing());
  std::optional<v1::Cassette> recording = *session->Recording();
  ASSERT_TRUE(recording.has_value());
  EXPECT_EQ(recording->interactions_size(), 1);
  EXPECT_TRUE(session->Unused().empty());
}

TEST_F(CassetteSessionTest, ARelayedWebSocketIsRecordedThroughTheSink) {
  auto session = NewSession(v1::RECORD);
  core::WsDecision d = session->OnWebSocket(Req("GET", "http://h/ws"));
  auto* relay = std::get_if<core::WsRelay>(&d);
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->ticket, 42u);
  ASSERT_NE(relay->sink, nullptr);
  relay->sink->OnUpgraded(core::HttpResponse{.status = 101});
  relay->sink->OnMessage(core::WsMessage{.payload = "hi"});
  relay->sink->OnClose(core::WsClose{.code = 1000});

  std::optional<v1::Cassette> recording = *session->Recording();
  ASSERT_TRUE(recording.has_value());
  ASSERT_EQ(recording->interactions_size(), 1);
  const v1::WebSocketSession& ws = recording->interactions(0).websocket();
  EXPECT_EQ(ws.upgrade_request().url(), "http://h/ws");
  ASSERT_EQ(ws.messages_size(), 1);
  EXPECT_EQ(ws.messages(0).payload(), "hi");
  EXPECT_EQ(ws.close().code(), 1000u);
}

TEST_F(CassetteSessionTest, WebSocketEventsAfterEndAreDropped) {
  auto session = NewSession(v1::RECORD);
  core::WsDecision d = session->OnWebSocket(Req("GET", "http://h/ws"));
  auto sink = std::get<core::WsRelay>(d).sink;
  sink->OnUpgraded(core::HttpResponse{.status = 101});
  session->End();
  sink->OnMessage(core::WsMessage{.payload = "late"});
  std::optional<v1::Cassette> recording = *session->Recording();
  ASSERT_TRUE(recording.has_value());
  EXPECT_EQ(recording->interactions(0).websocket().messages_size(), 0);
}

TEST_F(CassetteSessionTest, ReplayCountsHitsMissesAndWebSocketMismatches) {
  auto session = NewSession(v1::REPLAY, Loaded());
  EXPECT_EQ(session->mode(), v1::REPLAY);
  EXPECT_NE(AsReply(session->OnRequest(Req("GET", "http://h/a"))), nullptr);
  const core::Decision miss = session->OnRequest(Req("GET", "http://h/zz"));
  ASSERT_NE(AsReply(miss), nullptr);
  EXPECT_EQ(AsReply(miss)->response->status, kMissStatus);

  core::WsDecision d = session->OnWebSocket(Req("GET", "http://h/ws"));
  auto* replay = std::get_if<core::WsReplay>(&d);
  ASSERT_NE(replay, nullptr);
  ASSERT_EQ(replay->playback->Next().kind, core::WsStep::Kind::kExpect);
  EXPECT_TRUE(
      replay->playback->Check(core::WsMessage{.payload = "bye"}).has_value());

  const v1::SessionInfo info = session->Info();
  EXPECT_EQ(info.replayed(), 2u);
  EXPECT_EQ(info.missed(), 2u);
  EXPECT_EQ(info.interactions(), 2u);
  ASSERT_EQ(info.misses_size(), 2);
  EXPECT_EQ(info.misses(0).reason(), "no-match");
  EXPECT_EQ(info.misses(1).reason(), "ws-mismatch");
  EXPECT_EQ(info.misses(1).closest(0).interaction_index(), 1u);
  EXPECT_FALSE(session->Recording()->has_value());
  EXPECT_TRUE(session->Unused().empty());
}

TEST_F(CassetteSessionTest, ReplayWithoutACassetteMissesEverything) {
  auto session = NewSession(v1::REPLAY);
  const core::Decision d = session->OnRequest(Req("GET", "http://h/a"));
  ASSERT_NE(AsReply(d), nullptr);
  EXPECT_EQ(AsReply(d)->response->status, kMissStatus);
}

TEST_F(CassetteSessionTest, PassthroughForwardsAndCounts) {
  auto session = NewSession(v1::PASSTHROUGH);
  EXPECT_EQ(session->mode(), v1::PASSTHROUGH);
  ASSERT_NE(AsForward(session->OnRequest(Req("GET", "http://h/a"))), nullptr);
  session->OnForwarded(Req("GET", "http://h/a"), Res("a"), Timing());
  core::WsDecision d = session->OnWebSocket(Req("GET", "http://h/ws"));
  ASSERT_NE(std::get_if<core::WsRelay>(&d), nullptr);
  EXPECT_EQ(session->Info().passed_through(), 2u);
  EXPECT_FALSE(session->Recording()->has_value());
}

TEST_F(CassetteSessionTest, MissRecordSavesOnlyWhenSomethingWasAppended) {
  v1::CassetteOptions options;
  options.set_on_miss(v1::MISS_RECORD);
  auto session = NewSession(v1::REPLAY, Loaded(), options);
  EXPECT_FALSE(session->Recording()->has_value());
  const core::HttpRequest request = Req("GET", "http://h/new");
  ASSERT_NE(AsForward(session->OnRequest(request)), nullptr);
  session->OnForwarded(request, Res("new"), Timing());
  const v1::SessionInfo info = session->Info();
  EXPECT_EQ(info.recorded(), 1u);
  EXPECT_EQ(info.passed_through(), 1u);
  EXPECT_EQ(info.missed(), 1u);
  std::optional<v1::Cassette> recording = *session->Recording();
  ASSERT_TRUE(recording.has_value());
  EXPECT_EQ(recording->interactions_size(), 3);
  EXPECT_THAT(session->Unused(), ElementsAre(0u, 1u));
}

}  // namespace
}  // namespace matgto::replay
