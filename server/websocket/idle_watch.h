// A WebSocket session's idle deadline (--ws-idle-timeout): when no message
// has gone either way for that long, `on_idle` is called (it closes the
// session).
//
// Beast's own idle timeout re-arms its timer at the start of every read: a
// timer-queue insert, and the cancelled wait run through the scheduler, for
// each message -- about 5% of the CPU of a replayed message -- and it counts
// reads only, so a session that only sends looked idle. Here one wait stays
// pending: each message notes the time (Touch, a clock read), and the wait,
// when it ends, either calls `on_idle` or waits again for what is left.
//
// Lives on its session's strand (one thread); not thread-safe. Destroying
// it ends the pending wait without calling `on_idle`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include "absl/time/time.h"

namespace matgto::websocket {

class IdleWatch {
 public:
  using Clock = std::chrono::steady_clock;

  // `idle` of zero or less: never idle.
  IdleWatch(boost::asio::any_io_executor executor, absl::Duration idle,
            std::function<void()> on_idle)
      : state_(std::make_shared<State>(std::move(executor))) {
    if (idle <= absl::ZeroDuration()) return;
    state_->idle = absl::ToChronoNanoseconds(idle);
    state_->on_idle = std::move(on_idle);
    Touch();
    Wait(state_, state_->last + state_->idle);
  }
  ~IdleWatch() {
    state_->on_idle = nullptr;
    state_->timer.cancel();
  }
  IdleWatch(const IdleWatch&) = delete;
  IdleWatch& operator=(const IdleWatch&) = delete;

  // A message went one way or the other.
  void Touch() { state_->last = Clock::now(); }

  // Whether `on_idle` was called.
  bool expired() const { return state_->expired; }

 private:
  // Shared with the pending wait, which may end after the watch is gone.
  struct State {
    explicit State(boost::asio::any_io_executor executor)
        : timer(std::move(executor)) {}
    boost::asio::steady_timer timer;
    Clock::duration idle{};
    Clock::time_point last{};
    std::function<void()> on_idle;
    bool expired = false;
  };

  static void Wait(const std::shared_ptr<State>& state, Clock::time_point at) {
    state->timer.expires_at(at);
    state->timer.async_wait([state](const boost::system::error_code& ec) {
      if (ec == boost::asio::error::operation_aborted ||
          state->on_idle == nullptr) {
        return;
      }
      const Clock::time_point due = state->last + state->idle;
      if (Clock::now() < due) {
        Wait(state, due);  // a message came since this wait began
        return;
      }
      state->expired = true;
      std::function<void()> on_idle = std::move(state->on_idle);
      state->on_idle = nullptr;
      on_idle();
    });
  }

  std::shared_ptr<State> state_;
};

}  // namespace matgto::websocket
