// SessionManager: using a cassette in each mode, the errors of a use,
// idle sessions, misses and their 599, exhausted recordings.
#include "server/replay/session_manager.h"

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

TEST_P(SessionManagerTest, AutoRecordsWhenMissingThenReplaysWhenPresent) {
  absl::StatusOr<v1::SessionInfo> info =
      manager_->Use("suite/auto", v1::AUTO, {});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->mode(), v1::RECORD);
  EXPECT_EQ(info->requested_mode(), v1::AUTO);
  EXPECT_EQ(info->cassette(), "suite/auto");

  Forwarded(Req("GET", "http://h/a"), Res("recorded-a"));
  absl::StatusOr<v1::SessionSummary> summary = manager_->Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->saved_path(), store_->Describe("suite/auto"));
  EXPECT_EQ(summary->session().recorded(), 1u);
  EXPECT_THAT(store_->Exists("suite/auto"), IsOkAndHolds(true));

  info = manager_->Use("suite/auto", v1::AUTO, {});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->mode(), v1::REPLAY);
  EXPECT_EQ(info->requested_mode(), v1::AUTO);
  EXPECT_EQ(info->interactions(), 1u);

  core::Decision d = manager_->OnRequest({}, Req("GET", "http://h/a"));
  ASSERT_NE(AsReply(d), nullptr);
  EXPECT_EQ(AsReply(d)->response->body, "recorded-a");
  EXPECT_EQ(AsReply(d)->error, "");
  EXPECT_EQ(manager_->Info()->replayed(), 1u);
}

// The control API's read-only callers: a use that would record is refused
// whatever made it record (the mode, AUTO of a missing cassette, or the
// cassette's own miss policy), and nothing changes.
TEST_P(SessionManagerTest, RefuseWritesRefusesEveryUseThatWouldRecord) {
  replay::SessionTarget read_only;
  read_only.refuse_writes = "read-only caller";
  EXPECT_THAT(manager_->Use("x", v1::RECORD, {}, read_only),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("read-only caller (cassette 'x' would be "
                                 "recorded into: mode RECORD)")));
  EXPECT_THAT(
      manager_->Use("x", v1::AUTO, {}, read_only),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("mode RECORD")));
  v1::Cassette records_misses;
  records_misses.set_name("misses");
  records_misses.mutable_options()->set_on_miss(v1::MISS_RECORD);
  ASSERT_THAT(store_->Save(records_misses), IsOk());
  EXPECT_THAT(manager_->Use("misses", v1::REPLAY, {}, read_only),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("miss policy MISS_RECORD")));
  EXPECT_FALSE(manager_->Info().has_value());
  // Replaying with misses not recorded is fine.
  v1::CassetteOptions errors_on_miss;
  errors_on_miss.set_on_miss(v1::MISS_ERROR);
  EXPECT_THAT(manager_->Use("misses", v1::REPLAY, errors_on_miss, read_only),
              IsOk());
}

TEST_P(SessionManagerTest, UnspecifiedModeMeansTheDefaultMode) {
  absl::StatusOr<v1::SessionInfo> info =
      manager_->Use("x", v1::MODE_UNSPECIFIED, {});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->requested_mode(), v1::AUTO);
  EXPECT_EQ(info->mode(), v1::RECORD);
  EXPECT_EQ(manager_->default_mode(), v1::AUTO);
}

TEST_P(SessionManagerTest, ReplayOfMissingIsNotFound) {
  EXPECT_THAT(manager_->Use("missing", v1::REPLAY, {}),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("'missing' does not exist"),
                             HasSubstr(store_->Describe("missing")))));
  EXPECT_FALSE(manager_->Info().has_value());
}

TEST_P(SessionManagerTest, BadNameIsInvalidArgumentInEveryMode) {
  for (v1::Mode mode : {v1::AUTO, v1::RECORD, v1::REPLAY, v1::PASSTHROUGH}) {
    for (const std::string name : {"", "../up", "/abs", "a b"}) {
      SCOPED_TRACE(v1::Mode_Name(mode) + " '" + name + "'");
      EXPECT_THAT(manager_->Use(name, mode, {}),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           HasSubstr("cassette name")));
    }
  }
  EXPECT_FALSE(manager_->Info().has_value());
}

TEST_P(SessionManagerTest, UnknownModeIsInvalidArgument) {
  EXPECT_THAT(manager_->Use("x", static_cast<v1::Mode>(42), {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown mode 42")));
}

TEST_P(SessionManagerTest, CorruptCassetteIsDataLoss) {
  PutCorrupt("broken");
  for (v1::Mode mode : {v1::AUTO, v1::REPLAY}) {
    SCOPED_TRACE(v1::Mode_Name(mode));
    EXPECT_THAT(manager_->Use("broken", mode, {}),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr(store_->Describe("broken"))));
  }
}

TEST_P(SessionManagerTest, FailedUseKeepsThePreviousSession) {
  ASSERT_THAT(manager_->Use("first", v1::RECORD, {}), IsOk());
  Forwarded(Req("GET", "http://h/1"), Res("one"));
  EXPECT_THAT(manager_->Use("missing", v1::REPLAY, {}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
  EXPECT_THAT(manager_->Use("bad name", v1::RECORD, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("' '")));
  std::optional<v1::SessionInfo> info = manager_->Info();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->cassette(), "first");
  EXPECT_EQ(info->recorded(), 1u);
}

TEST_P(SessionManagerTest, StopWhenIdleIsFailedPrecondition) {
  EXPECT_THAT(manager_->Stop(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("no cassette is in use")));
  ASSERT_THAT(manager_->Use("x", v1::RECORD, {}), IsOk());
  ASSERT_THAT(manager_->Stop(), IsOk());
  EXPECT_THAT(manager_->Stop(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("no cassette is in use")));
}

TEST_P(SessionManagerTest, MissesAreCountedAllButKeptUpToTheLimit) {
  Seed("few", {{Req("GET", "http://h/known"), "k"}});
  ASSERT_THAT(manager_->Use("few", v1::REPLAY, {}), IsOk());
  const int total = kMaxMissesKept + 5;
  for (int i = 0; i < total; ++i) {
    core::Decision d = manager_->OnRequest(
        {}, Req("GET", "http://h/miss/" + std::to_string(i)));
    ASSERT_NE(AsReply(d), nullptr);
    ASSERT_EQ(AsReply(d)->response->status, kMissStatus);
  }
  std::optional<v1::SessionInfo> info = manager_->Info();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->missed(), static_cast<uint64_t>(total));
  ASSERT_EQ(info->misses_size(), kMaxMissesKept);
  EXPECT_EQ(info->misses(0).url(), "http://h/miss/0");  // oldest first
  EXPECT_EQ(info->misses(kMaxMissesKept - 1).url(),
            "http://h/miss/" + std::to_string(kMaxMissesKept - 1));
}

TEST_P(SessionManagerTest, IdleWithDefaultAutoAnswers503NoCassette) {
  for (v1::Mode mode :
       {v1::MODE_UNSPECIFIED, v1::AUTO, v1::RECORD, v1::REPLAY}) {
    SCOPED_TRACE(v1::Mode_Name(mode));
    std::unique_ptr<SessionManager> manager = MakeManager(mode);
    core::Decision d = manager->OnRequest({}, Req("GET", "http://h/"));
    const core::Reply* reply = AsReply(d);
    ASSERT_NE(reply, nullptr);
    EXPECT_EQ(reply->error, "no-cassette");
    EXPECT_EQ(reply->response->status, 503);
    EXPECT_THAT(core::FindHeader(reply->response->headers, "X-Matgto-Error"),
                Pointee(std::string("no-cassette")));
    EXPECT_THAT(reply->response->body, HasSubstr("no cassette is in use"));
  }
}

TEST_P(SessionManagerTest, IdleWithDefaultPassthroughForwards) {
  std::unique_ptr<SessionManager> manager = MakeManager(v1::PASSTHROUGH);
  core::Decision d = manager->OnRequest({}, Req("GET", "http://h/"));
  ASSERT_NE(AsForward(d), nullptr);
  // The forward's completion is harmless with no session.
  manager->OnForwarded(*AsForward(d), Req("GET", "http://h/"), Res("x"),
                       Timing());
  EXPECT_FALSE(manager->Info().has_value());
}

TEST_P(SessionManagerTest, PassthroughSessionForwardsAndSavesNothing) {
  ASSERT_THAT(manager_->Use("pt", v1::PASSTHROUGH, {}), IsOk());
  Forwarded(Req("GET", "http://h/a"), Res("a"));
  Forwarded(Req("GET", "http://h/a"), Res("a"));
  EXPECT_EQ(manager_->Info()->passed_through(), 2u);
  absl::StatusOr<v1::SessionSummary> summary = manager_->Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->saved_path(), "");
  EXPECT_THAT(store_->Exists("pt"), IsOkAndHolds(false));
}

TEST_P(SessionManagerTest, MissRepliesWith599AndAJsonExplanation) {
  Seed("shop", {{Req("GET", "http://h/items?page=1"), "page1"},
                {Req("POST", "http://other/items"), "post"}});
  ASSERT_THAT(manager_->Use("shop", v1::REPLAY, {}), IsOk());

  core::Decision d =
      manager_->OnRequest({}, Req("GET", "http://h/items?page=2"));
  const core::Reply* reply = AsReply(d);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->error, "no-match");
  EXPECT_EQ(reply->response->status, 599);
  EXPECT_THAT(core::FindHeader(reply->response->headers, "X-Matgto-Error"),
              Pointee(std::string("no-match")));
  EXPECT_THAT(core::FindHeader(reply->response->headers, "Content-Type"),
              Pointee(std::string("application/json")));
  EXPECT_THAT(core::FindHeader(reply->response->headers, "Content-Length"),
              Pointee(std::to_string(reply->response->body.size())));

  v1::ProxyError error;
  auto parsed = google::protobuf::util::JsonStringToMessage(
      reply->response->body, &error);
  ASSERT_TRUE(parsed.ok()) << parsed.ToString() << "\n"
                           << reply->response->body;
  EXPECT_EQ(error.error(), "no-match");
  EXPECT_EQ(error.cassette(), "shop");
  EXPECT_EQ(error.miss().method(), "GET");
  EXPECT_EQ(error.miss().url(), "http://h/items?page=2");
  ASSERT_GE(error.miss().closest_size(), 1);
  const v1::Candidate& closest = error.miss().closest(0);
  EXPECT_EQ(closest.interaction_index(), 0u);
  EXPECT_EQ(closest.url(), "http://h/items?page=1");
  ASSERT_EQ(closest.differences_size(), 1);
  EXPECT_EQ(closest.differences(0).field(), "query");
  EXPECT_EQ(closest.differences(0).recorded(), "page=1");
  EXPECT_EQ(closest.differences(0).live(), "page=2");
  EXPECT_THAT(
      error.message(),
      AllOf(HasSubstr("cassette 'shop'"),
            HasSubstr("Closest: interaction #0 GET http://h/items?page=1"),
            HasSubstr("query (recorded 'page=1', live 'page=2')")));

  std::optional<v1::SessionInfo> info = manager_->Info();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->missed(), 1u);
  ASSERT_EQ(info->misses_size(), 1);
  EXPECT_EQ(info->misses(0).url(), "http://h/items?page=2");
  EXPECT_EQ(info->misses(0).reason(), "no-match");
  EXPECT_EQ(info->misses(0).closest(0).url(), "http://h/items?page=1");
}

// The JSON body must stay valid whatever bytes the live body holds; here a
// body that is not UTF-8 although it follows UTF-8's bit patterns (an encoded
// UTF-16 surrogate).
TEST_P(SessionManagerTest, MissJsonParsesForANonUtf8Body) {
  Seed("bodies", {{Req("POST", "http://h/upload", "text"), "ok"}});
  ASSERT_THAT(manager_->Use("bodies", v1::REPLAY, {}), IsOk());
  core::Decision d =
      manager_->OnRequest({}, Req("POST", "http://h/upload", "\xed\xa0\x80"));
  ASSERT_NE(AsReply(d), nullptr);
  v1::ProxyError error;
  auto parsed = google::protobuf::util::JsonStringToMessage(
      AsReply(d)->response->body, &error);
  ASSERT_TRUE(parsed.ok()) << parsed.ToString() << "\n"
                           << AsReply(d)->response->body;
  ASSERT_EQ(error.miss().closest_size(), 1);
  EXPECT_EQ(error.miss().closest(0).differences(0).field(), "body");
}

TEST_P(SessionManagerTest, ExhaustedPolicyFromCassetteAndOverride) {
  Seed("once", {{Req("GET", "http://h/a"), "a"}}, v1::EXHAUSTED_ERROR);

  // Stored policy: the second identical request is an "exhausted" miss.
  ASSERT_THAT(manager_->Use("once", v1::REPLAY, {}), IsOk());
  ASSERT_NE(AsReply(manager_->OnRequest({}, Req("GET", "http://h/a"))),
            nullptr);
  core::Decision d = manager_->OnRequest({}, Req("GET", "http://h/a"));
  ASSERT_NE(AsReply(d), nullptr);
  EXPECT_EQ(AsReply(d)->error, "exhausted");
  EXPECT_EQ(AsReply(d)->response->status, 599);
  EXPECT_THAT(AsReply(d)->response->body, HasSubstr("EXHAUSTED_ERROR"));
  EXPECT_EQ(manager_->Info()->misses(0).reason(), "exhausted");

  // An override wins for this session only.
  v1::CassetteOptions repeat;
  repeat.set_on_exhausted(v1::REPEAT_LAST);
  absl::StatusOr<v1::SessionInfo> info =
      manager_->Use("once", v1::REPLAY, repeat);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->options().on_exhausted(), v1::REPEAT_LAST);
  for (int i = 0; i < 3; ++i) {
    core::Decision again = manager_->OnRequest({}, Req("GET", "http://h/a"));
    ASSERT_NE(AsReply(again), nullptr);
    EXPECT_EQ(AsReply(again)->response->body, "a");
  }
  // Unset override fields keep the stored value.
  info = manager_->Use("once", v1::REPLAY, {});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->options().on_exhausted(), v1::EXHAUSTED_ERROR);
}

TEST_P(SessionManagerTest, StopOfReplayReportsUnusedInteractions) {
  Seed("r", {{Req("GET", "http://h/0"), "0"},
             {Req("GET", "http://h/1"), "1"},
             {Req("GET", "http://h/2"), "2"}});
  ASSERT_THAT(manager_->Use("r", v1::REPLAY, {}), IsOk());
  ASSERT_NE(AsReply(manager_->OnRequest({}, Req("GET", "http://h/1"))),
            nullptr);
  absl::StatusOr<v1::SessionSummary> summary = manager_->Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_THAT(summary->unused_interactions(), ElementsAre(0, 2));
  EXPECT_EQ(summary->saved_path(), "");
  EXPECT_EQ(summary->session().replayed(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, SessionManagerTest,
    ::testing::Values(StoreKind::kMemory, StoreKind::kFile),
    [](const ::testing::TestParamInfo<StoreKind>& param_info) {
      return param_info.param == StoreKind::kMemory ? std::string("Memory")
                                                    : std::string("File");
    });

}  // namespace
}  // namespace matgto::replay
