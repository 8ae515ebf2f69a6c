// The server's live event stream: exchanges, misses and session events,
// published by the session manager and followed by WatchEvents watchers
// (and the admin page).
//
// One owner (the EventBus, made by `serve`) holds the subscriber list under
// its mutex; each Subscription holds a bounded queue under its own mutex.
// Publish never waits for a watcher: when a watcher's queue is full the event
// is dropped for that watcher and counted, and the next event it does get
// says how many it lost. Lock order: EventBus::mu_ before
// Subscription::mu_; nothing else is held inside either.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "matgto/v1/control.pb.h"

namespace matgto::observe {

struct EventFilter {
  std::string session;   // empty: any
  std::string cassette;  // empty: any
  // Only cassettes whose names start with this (a token limited to a name
  // prefix); empty: any, including events of no cassette.
  std::string cassette_prefix{};
  bool Matches(const v1::Event& event) const;
};

// Thread-safety: Offer (the bus) and Next/Close (the watcher) may be called
// concurrently.
class Subscription {
 public:
  Subscription(EventFilter filter, size_t capacity);

  // The next event, waiting until `deadline`; nullopt at the deadline or
  // once the subscription is closed and drained. An event's `dropped` says
  // how many were lost just before it.
  std::optional<v1::Event> Next(absl::Time deadline);
  bool closed() const;

  // Bus side: queues `event` or, when the queue is full, counts it lost.
  void Offer(const v1::Event& event);
  void Close();

  const EventFilter& filter() const { return filter_; }
  uint64_t dropped_total() const;

 private:
  const EventFilter filter_;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<v1::Event> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t lost_since_last_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_total_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Thread-safety: all methods are safe to call concurrently; Publish takes
// the bus's reader lock and each matching subscription's lock briefly.
class EventBus {
 public:
  static constexpr size_t kDefaultCapacity = 1024;

  std::shared_ptr<Subscription> Subscribe(EventFilter filter,
                                          size_t capacity = kDefaultCapacity);
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // Cheap check for publishers: whether building an event is worth it.
  bool HasSubscribers() const {
    return subscribers_.load(std::memory_order_relaxed) > 0;
  }
  void Publish(const v1::Event& event);

  // Closes every subscription (their watchers end) and refuses new ones:
  // the server is shutting down.
  void Close();

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subs_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> subscribers_{0};
};

}  // namespace matgto::observe
