#include "server/observe/event_bus.h"

#include <gtest/gtest.h>

namespace matgto::observe {
namespace {

v1::Event Exchange(const std::string& session, const std::string& cassette,
                   const std::string& url) {
  v1::Event e;
  e.mutable_exchange()->set_session(session);
  e.mutable_exchange()->set_cassette(cassette);
  e.mutable_exchange()->set_url(url);
  return e;
}

TEST(EventBusTest, FiltersBySessionAndCassette) {
  EventBus bus;
  auto by_session = bus.Subscribe({.session = "s1"});
  auto by_cassette = bus.Subscribe({.cassette = "c2"});
  auto all = bus.Subscribe({});
  bus.Publish(Exchange("s1", "c1", "a"));
  bus.Publish(Exchange("s2", "c2", "b"));
  const absl::Time now = absl::Now();
  auto e = by_session->Next(now);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->exchange().url(), "a");
  EXPECT_FALSE(by_session->Next(now).has_value());
  e = by_cassette->Next(now);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->exchange().url(), "b");
  EXPECT_TRUE(all->Next(now).has_value());
  EXPECT_TRUE(all->Next(now).has_value());
}

TEST(EventBusTest, ASlowSubscriberDropsAndIsToldHowMany) {
  EventBus bus;
  auto slow = bus.Subscribe({}, /*capacity=*/2);
  auto fast = bus.Subscribe({}, /*capacity=*/100);
  for (int i = 0; i < 5; ++i)
    bus.Publish(Exchange("s", "c", std::to_string(i)));
  // Publish never waited: the slow one kept two and lost three.
  EXPECT_EQ(slow->dropped_total(), 3u);
  const absl::Time now = absl::Now();
  auto e = slow->Next(now);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->exchange().url(), "0");
  EXPECT_EQ(e->dropped(), 0u);
  ASSERT_TRUE(slow->Next(now).has_value());
  // The next event it gets says what it lost before it.
  bus.Publish(Exchange("s", "c", "5"));
  e = slow->Next(now);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->exchange().url(), "5");
  EXPECT_EQ(e->dropped(), 3u);
  // The fast one lost nothing.
  for (int i = 0; i < 6; ++i) {
    e = fast->Next(now);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->dropped(), 0u);
  }
}

TEST(EventBusTest, CloseEndsWatchersAndUnsubscribeStopsDelivery) {
  EventBus bus;
  auto a = bus.Subscribe({});
  auto b = bus.Subscribe({});
  EXPECT_TRUE(bus.HasSubscribers());
  bus.Unsubscribe(b);
  bus.Publish(Exchange("s", "c", "x"));
  EXPECT_FALSE(b->Next(absl::Now()).has_value());
  bus.Close();
  EXPECT_FALSE(bus.HasSubscribers());
  // What was queued is still read, then the subscription says closed.
  EXPECT_TRUE(a->Next(absl::InfiniteFuture()).has_value());
  EXPECT_FALSE(a->Next(absl::InfiniteFuture()).has_value());
  EXPECT_TRUE(a->closed());
  EXPECT_TRUE(bus.Subscribe({})->closed());
}

}  // namespace
}  // namespace matgto::observe
