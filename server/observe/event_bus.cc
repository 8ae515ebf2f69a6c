#include "server/observe/event_bus.h"

#include <algorithm>

#include "absl/strings/match.h"

namespace matgto::observe {

bool EventFilter::Matches(const v1::Event& event) const {
  if (session.empty() && cassette.empty() && cassette_prefix.empty()) {
    return true;
  }
  const std::string* s = nullptr;
  const std::string* c = nullptr;
  switch (event.kind_case()) {
    case v1::Event::kExchange:
      s = &event.exchange().session();
      c = &event.exchange().cassette();
      break;
    case v1::Event::kMiss:
      s = &event.miss().session();
      c = &event.miss().cassette();
      break;
    case v1::Event::kSession:
      s = &event.session().session();
      c = &event.session().cassette();
      break;
    case v1::Event::KIND_NOT_SET:
      return false;
  }
  return (session.empty() || *s == session) &&
         (cassette.empty() || *c == cassette) &&
         (cassette_prefix.empty() ||
          (!c->empty() && absl::StartsWith(*c, cassette_prefix)));
}

Subscription::Subscription(EventFilter filter, size_t capacity)
    : filter_(std::move(filter)), capacity_(std::max<size_t>(1, capacity)) {}

void Subscription::Offer(const v1::Event& event) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  if (queue_.size() >= capacity_) {
    ++lost_since_last_;
    ++dropped_total_;
    return;
  }
  queue_.push_back(event);
  if (lost_since_last_ > 0) {
    queue_.back().set_dropped(lost_since_last_);
    lost_since_last_ = 0;
  }
}

std::optional<v1::Event> Subscription::Next(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return !queue_.empty() || closed_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  if (queue_.empty()) return std::nullopt;
  v1::Event event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

bool Subscription::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_ && queue_.empty();
}

void Subscription::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

uint64_t Subscription::dropped_total() const {
  absl::MutexLock lock(&mu_);
  return dropped_total_;
}

std::shared_ptr<Subscription> EventBus::Subscribe(EventFilter filter,
                                                  size_t capacity) {
  auto sub = std::make_shared<Subscription>(std::move(filter), capacity);
  absl::MutexLock lock(&mu_);
  if (closed_) {
    sub->Close();
    return sub;
  }
  subs_.push_back(sub);
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
  return sub;
}

void EventBus::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  absl::MutexLock lock(&mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), subscription),
              subs_.end());
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
}

void EventBus::Publish(const v1::Event& event) {
  absl::ReaderMutexLock lock(&mu_);
  for (const std::shared_ptr<Subscription>& sub : subs_) {
    if (sub->filter().Matches(event)) sub->Offer(event);
  }
}

void EventBus::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (const std::shared_ptr<Subscription>& sub : subs_) sub->Close();
  subs_.clear();
  subscribers_.store(0, std::memory_order_relaxed);
}

}  // namespace matgto::observe
