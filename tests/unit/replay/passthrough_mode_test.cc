#include "server/replay/passthrough_mode.h"

#include <variant>

#include "gtest/gtest.h"
#include "tests/unit/replay/mode_test_util.h"

namespace matgto::replay {
namespace {

using mode_test::AsForward;
using mode_test::FakeModeHost;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;

TEST(PassthroughModeTest, ForwardsEveryRequestWithItsTicket) {
  PassthroughMode mode(7);
  SessionCounters counters;
  const core::Decision d = mode.OnRequest(Req("GET", "http://h/a"), counters);
  ASSERT_NE(AsForward(d), nullptr);
  EXPECT_EQ(AsForward(d)->ticket, 7u);
  EXPECT_EQ(mode.mode(), v1::PASSTHROUGH);
}

TEST(PassthroughModeTest, CountsForwardedExchangesAndRecordsNothing) {
  PassthroughMode mode(7);
  SessionCounters counters;
  mode.OnForwarded(Req("GET", "http://h/a"), Res("x"), Timing(), counters,
                   nullptr);
  mode.OnForwarded(Req("GET", "http://h/b"), Res("y"), Timing(), counters,
                   nullptr);
  EXPECT_EQ(counters.passed_through, 2u);
  EXPECT_EQ(counters.misses.count(), 0u);
  EXPECT_EQ(mode.recorder(), nullptr);
  EXPECT_FALSE(mode.Recording()->has_value());
  EXPECT_EQ(mode.recorded(), 0u);
  EXPECT_EQ(mode.replayable(), 0u);
  EXPECT_TRUE(mode.Unused().empty());
}

TEST(PassthroughModeTest, RelaysWebSocketsWithoutRecording) {
  PassthroughMode mode(7);
  SessionCounters counters;
  FakeModeHost host;
  const core::WsDecision d =
      mode.OnWebSocket(Req("GET", "http://h/ws"), host, counters);
  const auto* relay = std::get_if<core::WsRelay>(&d);
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->ticket, 7u);
  EXPECT_EQ(relay->sink, nullptr);
  EXPECT_TRUE(host.recorded_upgrades.empty());
  EXPECT_EQ(counters.passed_through, 1u);
}

}  // namespace
}  // namespace matgto::replay
