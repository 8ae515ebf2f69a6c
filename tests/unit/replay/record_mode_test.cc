#include "server/replay/record_mode.h"

#include <optional>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/core/clock.h"
#include "tests/unit/replay/mode_test_util.h"

namespace matgto::replay {
namespace {

using mode_test::AsForward;
using mode_test::DefaultRedactor;
using mode_test::FakeModeHost;
using mode_test::kStart;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;
using ::testing::HasSubstr;
using ::testing::Not;

class RecordModeTest : public ::testing::Test {
 protected:
  RecordMode NewMode() {
    v1::Cassette start;
    start.set_name("rec");
    return RecordMode(
        3, Recorder(start, /*decode_bodies=*/false, DefaultRedactor(), clock_,
                    /*journal=*/nullptr));
  }

  core::FakeClock clock_{kStart};
  SessionCounters counters_;
};

TEST_F(RecordModeTest, ForwardsEveryRequestWithItsTicket) {
  RecordMode mode = NewMode();
  const core::Decision d = mode.OnRequest(Req("GET", "http://h/a"), counters_);
  ASSERT_NE(AsForward(d), nullptr);
  EXPECT_EQ(AsForward(d)->ticket, 3u);
  EXPECT_EQ(mode.mode(), v1::RECORD);
}

TEST_F(RecordModeTest, RecordsForwardedExchangesRedacted) {
  RecordMode mode = NewMode();
  core::HttpRequest request = Req("POST", "http://h/login", "{}");
  request.headers.push_back({"Authorization", "Bearer secret-token"});
  mode.OnForwarded(request, Res("ok"), Timing(), counters_, nullptr);

  EXPECT_EQ(mode.recorded(), 1u);
  std::optional<v1::Cassette> recording = *mode.Recording();
  ASSERT_TRUE(recording.has_value());
  EXPECT_EQ(recording->name(), "rec");
  ASSERT_EQ(recording->interactions_size(), 1);
  const core::HttpRequest stored =
      cassette::FromProto(recording->interactions(0).http().request());
  EXPECT_EQ(stored.url, "http://h/login");
  const std::string* auth = core::FindHeader(stored.headers, "authorization");
  ASSERT_NE(auth, nullptr);
  EXPECT_THAT(*auth, Not(HasSubstr("secret-token")));
  EXPECT_EQ(
      cassette::FromProto(recording->interactions(0).http().response()).body,
      "ok");
  // Recording does not count as passing through.
  EXPECT_EQ(counters_.passed_through, 0u);
}

TEST_F(RecordModeTest, RelaysWebSocketsIntoTheHostsRecordingSink) {
  RecordMode mode = NewMode();
  FakeModeHost host;
  const core::WsDecision d =
      mode.OnWebSocket(Req("GET", "http://h/ws"), host, counters_);
  const auto* relay = std::get_if<core::WsRelay>(&d);
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->ticket, 3u);
  EXPECT_EQ(relay->sink, host.sink);
  EXPECT_THAT(host.recorded_upgrades, ::testing::ElementsAre("http://h/ws"));
  // The sink writes through the session into this recorder.
  ASSERT_NE(mode.recorder(), nullptr);
  const uint64_t index = mode.recorder()->BeginWebSocket(
      Req("GET", "http://h/ws"), core::HttpResponse{.status = 101}, kStart);
  mode.recorder()->AddWsMessage(index, core::WsMessage{.payload = "hi"});
  std::optional<v1::Cassette> recording = *mode.Recording();
  ASSERT_TRUE(recording.has_value());
  ASSERT_EQ(recording->interactions_size(), 1);
  EXPECT_EQ(recording->interactions(0).websocket().messages(0).payload(), "hi");
}

TEST_F(RecordModeTest, AnEmptyRecordingIsStillSaved) {
  RecordMode mode = NewMode();
  std::optional<v1::Cassette> recording = *mode.Recording();
  ASSERT_TRUE(recording.has_value());
  EXPECT_EQ(recording->interactions_size(), 0);
  EXPECT_TRUE(mode.Unused().empty());
  EXPECT_EQ(mode.replayable(), 0u);
}

}  // namespace
}  // namespace matgto::replay
