// A deadline that a keep-alive connection sets and clears on every request
// at almost no cost (--idle-timeout between requests, --request-timeout
// while one is read, --write-timeout while a reply is written).
//
// Arming an Asio timer and cancelling it for each request is a timer-queue
// insert and removal under the reactor's lock, then a cancelled handler run
// through the scheduler: together, as much as a tenth of the CPU of a
// forwarded exchange. Here one wait stays pending. Set() only notes the
// deadline when a wait ending no later is already pending; that wait, when
// it ends before the deadline standing by then, waits again for it. Clear()
// only forgets the deadline. When a deadline passes, `expire` is called on
// the owner.
//
// Lives on its owner's strand (one thread); not thread-safe. The pending
// wait holds a weak reference: it keeps no closed connection alive, and
// destroying the owner (and this) ends it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>

namespace matgto::proxy {

template <class Owner>
class LazyDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  LazyDeadline(boost::asio::any_io_executor executor, void (Owner::*expire)())
      : timer_(std::move(executor)), expire_(expire) {}

  // `owner` (this object's owner) has `expire` called once `after` has
  // passed, unless Clear() or another Set() comes first.
  void Set(Owner& owner, Clock::duration after) {
    due_ = Clock::now() + after;
    if (waiting_ && pending_at_ <= *due_) return;
    Wait(owner.weak_from_this());
  }

  void Clear() { due_.reset(); }

  bool is_set() const { return due_.has_value(); }

 private:
  void Wait(std::weak_ptr<Owner> weak) {
    waiting_ = true;
    pending_at_ = *due_;
    // (Cancels a wait pending for later, whose handler then returns at
    // once: it is replaced.)
    timer_.expires_at(pending_at_);
    timer_.async_wait(
        [this, weak = std::move(weak)](const boost::system::error_code& ec) {
          if (ec == boost::asio::error::operation_aborted) return;
          const std::shared_ptr<Owner> owner = weak.lock();
          if (owner == nullptr) return;
          waiting_ = false;
          if (!due_.has_value()) return;
          if (Clock::now() < *due_) {
            Wait(weak);  // the deadline moved on since this wait began
            return;
          }
          due_.reset();
          ((*owner).*expire_)();
        });
  }

  boost::asio::steady_timer timer_;
  void (Owner::*const expire_)();
  std::optional<Clock::time_point> due_;
  Clock::time_point pending_at_{};
  bool waiting_ = false;
};

}  // namespace matgto::proxy
