// SessionManager while recording: what is saved (secrets redacted,
// options, every concurrent exchange), sessions that end or are replaced,
// and saves that fail.
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/store.h"
#include "server/core/clock.h"
#include "server/replay/session_manager.h"
#include "tests/unit/replay/session_manager_testing.h"
#include "tests/unit/testing/core_printers.h"
#include "tests/unit/testing/memory_cassette_store.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::replay {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::matgto::testing::IsOk;
using ::matgto::testing::IsOkAndHolds;
using ::matgto::testing::MemoryCassetteStore;
using ::matgto::testing::StatusIs;
using session_testing::AsForward;
using session_testing::AsReply;
using session_testing::kStart;
using session_testing::Req;
using session_testing::Res;
using session_testing::SessionManagerTest;
using session_testing::StoreKind;
using session_testing::Timing;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointee;

TEST_P(SessionManagerTest, RecordingIsSavedWithSecretsRedacted) {
  ASSERT_THAT(manager_->Use("secrets", v1::RECORD, {}), IsOk());
  core::HttpRequest req = Req("POST", "http://h/login?x=1", "user=bob");
  req.headers = {{"Host", "h"},
                 {"Authorization", "Bearer abc"},
                 {"Cookie", "sid=123; theme=dark"},
                 {"X-Api-Key", "key-1"},
                 {"Accept", "*/*"}};
  core::HttpResponse res = Res("welcome");
  res.headers = {{"Set-Cookie", "sid=456; Path=/; HttpOnly"},
                 {"Content-Type", "text/plain"}};
  Forwarded(req, res);
  Forwarded(Req("GET", "http://h/next"), Res("next"));
  EXPECT_EQ(manager_->Info()->recorded(), 2u);

  ASSERT_THAT(manager_->Stop(), IsOk());
  absl::StatusOr<v1::Cassette> saved = store_->Load("secrets");
  ASSERT_THAT(saved, IsOk());
  ASSERT_EQ(saved->interactions_size(), 2);
  const v1::Interaction& first = saved->interactions(0);
  EXPECT_EQ(first.index(), 0u);
  EXPECT_EQ(saved->interactions(1).index(), 1u);
  core::HttpRequest saved_req = cassette::FromProto(first.http().request());
  EXPECT_THAT(
      saved_req.headers,
      ElementsAre(core::Header{"Host", "h"},
                  core::Header{"Authorization", "Bearer [REDACTED]"},
                  core::Header{"Cookie", "sid=[REDACTED]; theme=[REDACTED]"},
                  core::Header{"X-Api-Key", "[REDACTED]"},
                  core::Header{"Accept", "*/*"}));
  EXPECT_EQ(saved_req.url, "http://h/login?x=1");
  EXPECT_EQ(saved_req.body, "user=bob");
  core::HttpResponse saved_res = cassette::FromProto(first.http().response());
  EXPECT_THAT(saved_res.headers,
              ElementsAre(core::Header{"Set-Cookie",
                                       "sid=[REDACTED]; Path=/; HttpOnly"},
                          core::Header{"Content-Type", "text/plain"}));
  EXPECT_EQ(saved_res.body, "welcome");
  // Times come from the injected clock.
  EXPECT_EQ(TimeUtil::TimestampToSeconds(saved->created_at()), 1700000000);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(first.recorded_at()), 1700000001);
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(first.http().timing().total()),
            20);
}

TEST_P(SessionManagerTest, RecordingKeepsTheOptionsAskedFor) {
  v1::CassetteOptions options;
  options.set_on_exhausted(v1::EXHAUSTED_ERROR);
  ASSERT_THAT(manager_->Use("opts", v1::RECORD, options), IsOk());
  Forwarded(Req("GET", "http://h/a"), Res("a"));
  ASSERT_THAT(manager_->Stop(), IsOk());
  absl::StatusOr<v1::SessionInfo> info = manager_->Use("opts", v1::REPLAY, {});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->options().on_exhausted(), v1::EXHAUSTED_ERROR);
}

// What a user sees of the Latin-1 header bug (see codec_test): recording and
// saving succeed, and the cassette can never be loaded again.
TEST_P(SessionManagerTest, RecordedLatin1HeaderCanBeReplayed) {
  ASSERT_THAT(manager_->Use("latin1", v1::RECORD, {}), IsOk());
  core::HttpResponse res = Res("file");
  res.headers.push_back(
      {"Content-Disposition", "attachment; filename=\"caf\xe9.txt\""});
  Forwarded(Req("GET", "http://h/download"), res);
  ASSERT_THAT(manager_->Stop(), IsOk());

  absl::StatusOr<v1::SessionInfo> info = manager_->Use("latin1", v1::AUTO, {});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->mode(), v1::REPLAY);
  core::Decision d = manager_->OnRequest({}, Req("GET", "http://h/download"));
  ASSERT_NE(AsReply(d), nullptr);
  EXPECT_EQ(*AsReply(d)->response, res);
}

TEST_P(SessionManagerTest, ForwardOfAnEndedSessionIsNotRecordedInTheNext) {
  ASSERT_THAT(manager_->Use("a", v1::RECORD, {}), IsOk());
  const core::HttpRequest req = Req("GET", "http://h/slow");
  core::Decision d = manager_->OnRequest({}, req);
  ASSERT_NE(AsForward(d), nullptr);
  const core::Forward stale = *AsForward(d);
  ASSERT_THAT(manager_->Stop(), IsOk());

  ASSERT_THAT(manager_->Use("b", v1::RECORD, {}), IsOk());
  manager_->OnForwarded(stale, req, Res("late"), Timing());
  manager_->OnForwardFailed(stale, req, "upstream-timeout");
  EXPECT_EQ(manager_->Info()->recorded(), 0u);
  Forwarded(Req("GET", "http://h/fresh"), Res("fresh"));
  ASSERT_THAT(manager_->Stop(), IsOk());

  absl::StatusOr<v1::Cassette> b = store_->Load("b");
  ASSERT_THAT(b, IsOk());
  ASSERT_EQ(b->interactions_size(), 1);
  EXPECT_EQ(b->interactions(0).http().request().url(), "http://h/fresh");
  absl::StatusOr<v1::Cassette> a = store_->Load("a");
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->interactions_size(), 0);
}

TEST_P(SessionManagerTest, UsingTheCassetteBeingRecordedSavesItFirst) {
  ASSERT_THAT(manager_->Use("x", v1::RECORD, {}), IsOk());
  Forwarded(Req("GET", "http://h/a"), Res("a"));
  absl::StatusOr<v1::SessionInfo> info = manager_->Use("x", v1::AUTO, {});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->mode(), v1::REPLAY);
  EXPECT_EQ(info->interactions(), 1u);
}

TEST_P(SessionManagerTest, UseSavesTheRecordingItReplaces) {
  ASSERT_THAT(manager_->Use("first", v1::RECORD, {}), IsOk());
  Forwarded(Req("GET", "http://h/a"), Res("a"));
  ASSERT_THAT(manager_->Use("second", v1::RECORD, {}), IsOk());
  absl::StatusOr<v1::Cassette> first = store_->Load("first");
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->interactions_size(), 1);
}

TEST_P(SessionManagerTest, ConcurrentExchangesAreAllRecorded) {
  ASSERT_THAT(manager_->Use("busy", v1::RECORD, {}), IsOk());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        core::HttpRequest req = Req(
            "GET", "http://h/" + std::to_string(t) + "/" + std::to_string(i));
        core::Decision d = manager_->OnRequest({}, req);
        if (const core::Forward* f = AsForward(d)) {
          manager_->OnForwarded(*f, req, Res("x"), Timing());
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  absl::StatusOr<v1::SessionSummary> summary = manager_->Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->session().recorded(), kThreads * kPerThread);
}

// Failure injection: only the fake store can fail a save on demand.
class SessionManagerSaveFailureTest : public ::testing::Test {
 protected:
  MemoryCassetteStore store_;
  core::FakeClock clock_{kStart};
  SessionManager manager_{store_, cassette::RedactConfig::Defaults(), clock_,
                          v1::AUTO};
};

TEST_F(SessionManagerSaveFailureTest, StopKeepsTheSessionWhenSavingFails) {
  ASSERT_THAT(manager_.Use("keep", v1::RECORD, {}), IsOk());
  const core::HttpRequest req = Req("GET", "http://h/a");
  core::Decision d = manager_.OnRequest({}, req);
  ASSERT_NE(AsForward(d), nullptr);
  manager_.OnForwarded(*AsForward(d), req, Res("a"), Timing());

  store_.FailSavesWith(absl::ResourceExhaustedError("disk full"));
  EXPECT_THAT(manager_.Stop(), StatusIs(absl::StatusCode::kResourceExhausted,
                                        HasSubstr("disk full")));
  std::optional<v1::SessionInfo> info = manager_.Info();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->cassette(), "keep");
  EXPECT_EQ(info->recorded(), 1u);
  // Still recording into the same session.
  core::Decision d2 = manager_.OnRequest({}, Req("GET", "http://h/b"));
  ASSERT_NE(AsForward(d2), nullptr);
  EXPECT_EQ(AsForward(d2)->ticket, AsForward(d)->ticket);

  // Switching cassettes must not drop it either.
  EXPECT_THAT(
      manager_.Use("other", v1::RECORD, {}),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("disk full")));
  EXPECT_EQ(manager_.Info()->cassette(), "keep");

  store_.FailSavesWith(absl::OkStatus());
  absl::StatusOr<v1::SessionSummary> summary = manager_.Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->saved_path(), "memory:keep");
  absl::StatusOr<v1::Cassette> saved = store_.Load("keep");
  ASSERT_THAT(saved, IsOk());
  EXPECT_EQ(saved->interactions_size(), 1);
  EXPECT_FALSE(manager_.Info().has_value());
}

absl::Status RefusedButKept(absl::string_view kept_at) {
  absl::Status st = absl::AbortedError(
      absl::StrCat("someone saved it first; kept at ", kept_at));
  st.SetPayload(cassette::kRecordingKeptPayload, absl::Cord(kept_at));
  return st;
}

TEST_F(SessionManagerSaveFailureTest, RefusedSaveKeptElsewhereEndsTheSession) {
  ASSERT_THAT(manager_.Use("race", v1::RECORD, {}), IsOk());
  const core::HttpRequest req = Req("GET", "http://h/a");
  core::Decision d = manager_.OnRequest({}, req);
  ASSERT_NE(AsForward(d), nullptr);
  manager_.OnForwarded(*AsForward(d), req, Res("a"), Timing());

  store_.FailSavesWith(RefusedButKept("/cache/conflicts/race-1.pb"));
  // The caller sees the refusal (ABORTED, where the recording is) ...
  EXPECT_THAT(manager_.Stop(),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("race-1.pb")));
  // ... and the session is over: nothing is lost, nothing stays half-open.
  EXPECT_FALSE(manager_.Info().has_value());
  std::vector<v1::SessionSummary> ended = manager_.Ended();
  ASSERT_FALSE(ended.empty());
  EXPECT_EQ(ended.front().saved_path(), "/cache/conflicts/race-1.pb");
  EXPECT_THAT(ended.front().warnings(),
              ::testing::Contains(HasSubstr("someone saved it first")));
}

TEST_F(SessionManagerSaveFailureTest, RefusedSaveOnSwitchIsReported) {
  ASSERT_THAT(manager_.Use("race", v1::RECORD, {}), IsOk());
  store_.FailSavesWith(RefusedButKept("/k/race-2.pb"));
  // Recording is frozen only if something was recorded: record one.
  const core::HttpRequest req = Req("GET", "http://h/a");
  core::Decision d = manager_.OnRequest({}, req);
  manager_.OnForwarded(*AsForward(d), req, Res("a"), Timing());
  EXPECT_THAT(manager_.Use("next", v1::RECORD, {}),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("race-2.pb")));
  // The old cassette ended (its recording is kept); the new one did not
  // start, so nothing is in use.
  EXPECT_FALSE(manager_.Info().has_value());
}

}  // namespace
}  // namespace matgto::replay
