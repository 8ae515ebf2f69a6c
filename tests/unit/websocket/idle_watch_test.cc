// IdleWatch on a real io_context and real timers (short durations).
#include "server/websocket/idle_watch.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>

namespace matgto::websocket {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(IdleWatchTest, CallsOnIdleOnceNothingWasTouchedForTheDuration) {
  asio::io_context io;
  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> called;
  IdleWatch watch(io.get_executor(), absl::Milliseconds(100),
                  [&] { called = Clock::now(); });
  io.run_for(milliseconds(2000));
  ASSERT_TRUE(called.has_value());
  EXPECT_GE(*called - start, milliseconds(100));
  EXPECT_TRUE(watch.expired());
}

TEST(IdleWatchTest, EachTouchPutsTheDeadlineOff) {
  asio::io_context io;
  int calls = 0;
  std::optional<Clock::time_point> called;
  IdleWatch watch(io.get_executor(), absl::Milliseconds(300), [&] {
    ++calls;
    called = Clock::now();
  });
  // Touched every 30 ms for 360 ms, longer than the duration: not idle
  // until 300 ms after the last touch.
  asio::steady_timer ticker(io);
  int ticks = 0;
  std::function<void()> tick = [&] {
    ticker.expires_after(milliseconds(30));
    ticker.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      watch.Touch();
      if (++ticks < 12) tick();
    });
  };
  tick();
  const Clock::time_point start = Clock::now();
  io.run_for(milliseconds(3000));
  EXPECT_EQ(ticks, 12);
  ASSERT_EQ(calls, 1);  // idle after the last touch, once
  EXPECT_GE(*called - start, milliseconds(360 + 300));
}

TEST(IdleWatchTest, ADestroyedWatchNeverCallsOnIdle) {
  asio::io_context io;
  bool called = false;
  {
    IdleWatch watch(io.get_executor(), absl::Milliseconds(50),
                    [&] { called = true; });
  }
  io.run_for(milliseconds(300));
  EXPECT_FALSE(called);
}

TEST(IdleWatchTest, ADurationOfZeroIsNeverIdle) {
  asio::io_context io;
  bool called = false;
  IdleWatch watch(io.get_executor(), absl::ZeroDuration(),
                  [&] { called = true; });
  io.run_for(milliseconds(200));
  EXPECT_FALSE(called);
  EXPECT_FALSE(watch.expired());
}

}  // namespace
}  // namespace matgto::websocket
