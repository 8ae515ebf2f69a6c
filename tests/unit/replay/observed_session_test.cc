// The session manager reports what it decided to the observer: exchanges
// with their result, explained misses, lifecycle events, metrics. No
// socket: the manager is driven as the proxy would drive it.
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/core/clock.h"
#include "server/observe/observer.h"
#include "server/replay/session_manager.h"
#include "tests/unit/testing/memory_cassette_store.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::replay {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::MemoryCassetteStore;
using ::testing::HasSubstr;
using ::testing::Not;

core::HttpRequest Req(std::string url) {
  return core::HttpRequest{
      .method = "GET",
      .url = std::move(url),
      .version = 11,
      .headers = {{"Host", "h"}, {"Authorization", "Bearer hdr-secret"}}};
}

class ObservedSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_ = std::make_unique<SessionManager>(
        store_, cassette::RedactConfig::Defaults(), clock_,
        SessionManagerOptions{.default_mode = v1::AUTO,
                              .max_sessions = 4,
                              .listeners = nullptr,
                              .log = nullptr,
                              .observer = &observer_});
    events_ = observer_.bus().Subscribe({});
  }

  std::vector<v1::Event> Drain() {
    std::vector<v1::Event> out;
    while (auto e = events_->Next(absl::Now())) out.push_back(*e);
    return out;
  }

  core::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  MemoryCassetteStore store_;
  observe::Observer observer_;
  std::unique_ptr<SessionManager> manager_;
  std::shared_ptr<observe::Subscription> events_;
};

TEST_F(ObservedSessionTest, RecordThenReplayAndMissAreEventsAndMetrics) {
  ASSERT_THAT(manager_->Use("c", v1::RECORD, {}), IsOk());
  const core::HttpRequest req = Req("http://h/a?token=q-secret");
  core::Decision d = manager_->OnRequest({}, req);
  ASSERT_TRUE(std::holds_alternative<core::Forward>(d));
  core::HttpResponse res{
      .status = 201, .reason = "Created", .version = 11, .body = "made"};
  manager_->OnForwarded(std::get<core::Forward>(d), req, res,
                        core::ExchangeTiming{.total = absl::Milliseconds(3)});
  ASSERT_THAT(manager_->Use("c", v1::REPLAY, {}), IsOk());
  manager_->OnRequest({}, req);                    // replayed
  manager_->OnRequest({}, Req("http://h/other"));  // missed

  std::vector<v1::Event> events = Drain();
  std::vector<std::string> kinds;
  for (const v1::Event& e : events) {
    kinds.push_back(e.has_exchange() ? "exchange"
                    : e.has_miss()   ? "miss"
                                     : "session");
    EXPECT_THAT(e.DebugString(), Not(HasSubstr("secret")));
  }
  // started, recorded, ended (saved), started, replayed, miss, missed.
  EXPECT_EQ(kinds, (std::vector<std::string>{"session", "exchange", "session",
                                             "session", "exchange", "miss",
                                             "exchange"}));
  const v1::ExchangeEvent& recorded = events[1].exchange();
  EXPECT_EQ(recorded.result(), v1::RESULT_RECORDED);
  EXPECT_EQ(recorded.status(), 201);
  EXPECT_EQ(recorded.bytes_out(), 4u);
  EXPECT_EQ(recorded.url(), "http://h/a?token=[REDACTED]");
  EXPECT_EQ(events[2].session().kind(), v1::SessionEvent::KIND_ENDED);
  EXPECT_FALSE(events[2].session().saved_path().empty());
  EXPECT_EQ(events[4].exchange().result(), v1::RESULT_REPLAYED);
  EXPECT_EQ(events[5].miss().miss().reason(), "no-match");
  EXPECT_THAT(events[5].miss().explanation(),
              HasSubstr("Closest: interaction #0"));
  EXPECT_EQ(events[6].exchange().result(), v1::RESULT_MISSED);
  EXPECT_EQ(events[6].exchange().status(), 599);

  const std::string metrics = observer_.RenderMetrics(1);
  EXPECT_THAT(metrics, HasSubstr("matgto_exchanges_total{mode=\"replay\","
                                 "result=\"missed\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("matgto_cassette_save_duration_seconds_count 1"));
  EXPECT_THAT(metrics,
              HasSubstr("matgto_cassette_load_duration_seconds_count 1"));
}

TEST_F(ObservedSessionTest, AFailedForwardIsAnUpstreamErrorOfItsKind) {
  ASSERT_THAT(manager_->Use("c", v1::RECORD, {}), IsOk());
  const core::HttpRequest req = Req("http://h/down");
  core::Decision d = manager_->OnRequest({}, req);
  manager_->OnForwardFailed(std::get<core::Forward>(d), req,
                            "upstream-timeout");
  std::vector<v1::Event> events = Drain();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].exchange().result(), v1::RESULT_ERROR);
  EXPECT_EQ(events[1].exchange().status(), 504);
  EXPECT_EQ(events[1].exchange().error(), "upstream-timeout");
  EXPECT_THAT(observer_.RenderMetrics(1),
              HasSubstr("matgto_upstream_errors_total{kind=\"upstream-"
                        "timeout\"} 1"));
}

}  // namespace
}  // namespace matgto::replay
