// What sessions save, and when: the name a session was opened with wins,
// stop saves every exchange it counts (even one completing during the
// save), a failed record leaves the session in use running, and options
// with enum values the proto does not define are refused.
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/core/clock.h"
#include "server/replay/rules.h"
#include "server/replay/session.h"
#include "server/replay/session_manager.h"
#include "tests/unit/replay/mode_test_util.h"
#include "tests/unit/testing/memory_cassette_store.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::replay {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::MemoryCassetteStore;
using ::matgto::testing::StatusIs;
using mode_test::AddHttp;
using mode_test::AsForward;
using mode_test::AsReply;
using mode_test::DefaultRedactor;
using mode_test::kStart;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;
using ::testing::AllOf;
using ::testing::HasSubstr;

class StorageSessionTest : public ::testing::Test {
 protected:
  // Sends `req` through the default session; returns its forward ticket.
  core::Forward Forward(const core::HttpRequest& req) {
    core::Decision d = manager_.OnRequest({}, req);
    const core::Forward* fwd = AsForward(d);
    EXPECT_NE(fwd, nullptr) << "expected the request to be forwarded";
    return fwd != nullptr ? *fwd : core::Forward{};
  }
  void Exchange(const std::string& path) {
    const core::HttpRequest req = Req("GET", "http://h" + path);
    const core::Forward ticket = Forward(req);
    manager_.OnForwarded(ticket, req, Res("live " + path), Timing());
  }
  int SavedInteractions(const std::string& name) {
    absl::StatusOr<v1::Cassette> c = store_.Load(name);
    EXPECT_THAT(c, IsOk());
    return c.ok() ? c->interactions_size() : -1;
  }

  MemoryCassetteStore store_;
  core::FakeClock clock_{kStart};
  SessionManager manager_{store_, cassette::RedactConfig::Defaults(), clock_,
                          v1::AUTO};
};

// Issue 11, defect 11.
TEST_F(StorageSessionTest, ACopiedCassetteIsSavedUnderTheNameItWasOpenedAs) {
  v1::Cassette original;
  original.set_name("original");
  AddHttp(original, Req("GET", "http://h/a"), Res("a"));
  ASSERT_THAT(store_.Save(original), IsOk());
  // `cp original.pb copy.pb`: the copy still says "original" inside.
  store_.PutBytes("copy", cassette::SerializeCassette(original));

  v1::CassetteOptions overrides;
  overrides.set_on_miss(v1::MISS_RECORD);
  ASSERT_THAT(manager_.Use("copy", v1::REPLAY, overrides), IsOk());
  Exchange("/new");
  absl::StatusOr<v1::SessionSummary> summary = manager_.Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->saved_path(), "memory:copy");
  EXPECT_EQ(SavedInteractions("copy"), 2);
  EXPECT_EQ(SavedInteractions("original"), 1);
  EXPECT_EQ(store_.Load("copy")->name(), "copy");
}

// Defect 13: an exchange completing while stop saves is not counted (and
// not lost silently): the summary counts exactly what the file holds.
TEST_F(StorageSessionTest, StopSavesEveryExchangeItCounts) {
  ASSERT_THAT(manager_.Use("race", v1::RECORD, {}), IsOk());
  Exchange("/1");
  const core::HttpRequest late = Req("GET", "http://h/late");
  const core::Forward ticket = Forward(late);
  store_.DuringSave(
      [&] { manager_.OnForwarded(ticket, late, Res("late"), Timing()); });
  absl::StatusOr<v1::SessionSummary> summary = manager_.Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->session().recorded(), 1u);
  EXPECT_EQ(SavedInteractions("race"), 1);
}

TEST_F(StorageSessionTest, AnExchangeDuringAFailedSaveIsRecordedAfterwards) {
  ASSERT_THAT(manager_.Use("retry", v1::RECORD, {}), IsOk());
  Exchange("/1");
  const core::HttpRequest late = Req("GET", "http://h/late");
  const core::Forward ticket = Forward(late);
  store_.FailSavesWith(absl::ResourceExhaustedError("disk full"));
  store_.DuringSave([&] {
    manager_.OnForwarded(ticket, late, Res("late"), Timing());
    store_.DuringSave(nullptr);
  });
  EXPECT_THAT(manager_.Stop(), StatusIs(absl::StatusCode::kResourceExhausted,
                                        HasSubstr("disk full")));
  EXPECT_EQ(manager_.Info()->recorded(), 2u);
  Exchange("/2");  // recording goes on
  store_.FailSavesWith(absl::OkStatus());
  absl::StatusOr<v1::SessionSummary> summary = manager_.Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->session().recorded(), 3u);
  EXPECT_EQ(SavedInteractions("retry"), 3);
}

// Defect 14: nothing about the session in use changes when record fails.
TEST_F(StorageSessionTest, AFailedRecordLeavesTheSessionInUseRunning) {
  ASSERT_THAT(manager_.Use("current", v1::RECORD, {}), IsOk());
  Exchange("/1");
  store_.FailJournalsWith(absl::PermissionDeniedError(
      "cannot create journal /c/next.pb.journal: Permission denied"));
  EXPECT_THAT(manager_.Use("next", v1::RECORD, {}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("cannot create journal")));
  v1::CassetteOptions bad;
  bad.mutable_match_rules()->add_url_rewrites()->set_pattern("(");
  store_.FailJournalsWith(absl::OkStatus());
  EXPECT_THAT(manager_.Use("next", v1::RECORD, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("(")));
  std::optional<v1::SessionInfo> info = manager_.Info();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->cassette(), "current");
  EXPECT_EQ(info->mode(), v1::RECORD);
  EXPECT_EQ(store_.save_calls(), 0);  // not ended, so not saved either
  Exchange("/2");
  absl::StatusOr<v1::SessionSummary> summary = manager_.Stop();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(SavedInteractions("current"), 2);
}

TEST_F(StorageSessionTest, AFailedRecordLeavesAReplaySessionRunning) {
  v1::Cassette c;
  c.set_name("replayed");
  AddHttp(c, Req("GET", "http://h/a"), Res("a"));
  ASSERT_THAT(store_.Save(c), IsOk());
  ASSERT_THAT(manager_.Use("replayed", v1::REPLAY, {}), IsOk());
  store_.FailJournalsWith(absl::InternalError("no journal"));
  EXPECT_THAT(manager_.Use("next", v1::RECORD, {}),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("no journal")));
  core::Decision d = manager_.OnRequest({}, Req("GET", "http://h/a"));
  ASSERT_NE(AsReply(d), nullptr);
  EXPECT_EQ(AsReply(d)->response->body, "a");
}

// Smaller defect: out-of-range enum values (as protobuf JSON accepts them).
TEST_F(StorageSessionTest, OptionsWithUndefinedEnumValuesAreRefused) {
  v1::CassetteOptions options;
  options.set_on_miss(static_cast<v1::MissPolicy>(7));
  EXPECT_THAT(manager_.Use("x", v1::RECORD, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("on_miss = 7"),
                             HasSubstr("matgto.v1.MissPolicy"),
                             HasSubstr("MISS_RECORD"))));
  options.Clear();
  options.mutable_match_rules()->add_fields(v1::METHOD);
  options.mutable_match_rules()->add_fields(static_cast<v1::MatchField>(99));
  EXPECT_THAT(manager_.Use("x", v1::RECORD, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("match_rules.fields[1] = 99")));
  options.Clear();
  options.mutable_match_rules()->set_body(static_cast<v1::BodyMatch>(-3));
  EXPECT_THAT(manager_.Use("x", v1::RECORD, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("match_rules.body = -3")));
  EXPECT_FALSE(manager_.Info().has_value());
  EXPECT_THAT(CheckEnumValues(v1::CassetteOptions()), IsOk());
}

// Freeze/Thaw/End on the session itself, without a manager.
class FreezeTest : public ::testing::Test {
 protected:
  std::shared_ptr<CassetteSession> NewRecording() {
    return std::make_shared<CassetteSession>(
        SessionSetup{.id = 7,
                     .name = "opened-as",
                     .requested_mode = v1::RECORD,
                     .mode = v1::RECORD,
                     .options = {},
                     .loaded = std::nullopt,
                     .redactor = DefaultRedactor(),
                     .matcher = match::RequestMatcher(),
                     .clock = &clock_,
                     .journal = nullptr});
  }
  static void Forwarded(CassetteSession& s, const std::string& path) {
    const core::HttpRequest req = Req("GET", "http://h" + path);
    ASSERT_NE(AsForward(s.OnRequest(req)), nullptr);
    s.OnForwarded(req, Res(path), Timing());
  }
  core::FakeClock clock_{kStart};
};

TEST_F(FreezeTest, FrozenExchangesAreHeldUntilThawAndDroppedByEnd) {
  auto session = NewRecording();
  Forwarded(*session, "/1");
  std::optional<cassette::Recording> frozen = *session->Freeze();
  ASSERT_TRUE(frozen.has_value());
  EXPECT_EQ(frozen->head().name(), "opened-as");
  Forwarded(*session, "/2");  // answered (forwarded), but held
  EXPECT_EQ(session->Info().recorded(), 1u);
  session->Thaw();
  EXPECT_EQ(session->Info().recorded(), 2u);
  // Read after the thaw recorded /2: the frozen recording is what was
  // counted when it was frozen.
  absl::StatusOr<v1::Cassette> snapshot = frozen->Whole();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->interactions_size(), 1);
  ASSERT_TRUE(session->Recording()->has_value());
  EXPECT_EQ((*session->Recording())->interactions_size(), 2);

  ASSERT_TRUE(session->Freeze()->has_value());
  Forwarded(*session, "/3");
  session->End();
  session->Thaw();  // no effect once ended
  EXPECT_EQ(session->Info().recorded(), 2u);
}

}  // namespace
}  // namespace matgto::replay
