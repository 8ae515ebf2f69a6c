#include "server/replay/session_manager.h"

#include <fstream>
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
#include "tests/unit/testing/core_printers.h"
#include "tests/unit/testing/memory_cassette_store.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::replay {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::matgto::testing::IsOk;
using ::matgto::testing::IsOkAndHolds;
using ::matgto::testing::MemoryCassetteStore;
using ::matgto::testing::StatusIs;
using ::matgto::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointee;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

core::HttpRequest Req(std::string method, std::string url,
                      std::string body = "") {
  return core::HttpRequest{.method = std::move(method),
                           .url = std::move(url),
                           .version = 11,
                           .headers = {{"Host", "h"}},
                           .body = std::move(body)};
}

core::HttpResponse Res(std::string body) {
  return core::HttpResponse{.status = 200,
                            .reason = "OK",
                            .version = 11,
                            .headers = {{"Content-Type", "text/plain"}},
                            .body = std::move(body)};
}

core::ExchangeTiming Timing() {
  return core::ExchangeTiming{.started_at = kStart,
                              .time_to_first_byte = absl::Milliseconds(7),
                              .total = absl::Milliseconds(20)};
}

const core::Reply* AsReply(const core::Decision& d) {
  return std::get_if<core::Reply>(&d);
}
const core::Forward* AsForward(const core::Decision& d) {
  return std::get_if<core::Forward>(&d);
}

enum class StoreKind { kMemory, kFile };
void PrintTo(StoreKind kind, std::ostream* os) {
  *os << (kind == StoreKind::kMemory ? "MemoryCassetteStore"
                                     : "FileCassetteStore");
}

class SessionManagerTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kMemory) {
      auto memory = std::make_unique<MemoryCassetteStore>();
      memory_ = memory.get();
      store_ = std::move(memory);
    } else {
      auto file = cassette::FileCassetteStore::Create(tmp_.path());
      ASSERT_THAT(file, IsOk());
      store_ = *std::move(file);
    }
    manager_ = MakeManager(v1::AUTO);
  }

  std::unique_ptr<SessionManager> MakeManager(v1::Mode default_mode) {
    return std::make_unique<SessionManager>(
        *store_, cassette::RedactConfig::Defaults(), clock_, default_mode);
  }

  // Stores a cassette answering each request with the given body.
  void Seed(
      const std::string& name,
      const std::vector<std::pair<core::HttpRequest, std::string>>& exchanges,
      v1::ExhaustedPolicy policy = v1::EXHAUSTED_POLICY_UNSPECIFIED) {
    v1::Cassette c;
    c.set_name(name);
    c.mutable_options()->set_on_exhausted(policy);
    for (size_t i = 0; i < exchanges.size(); ++i) {
      v1::Interaction* it = c.add_interactions();
      it->set_index(i);
      cassette::ToProto(exchanges[i].first,
                        *it->mutable_http()->mutable_request());
      cassette::ToProto(Res(exchanges[i].second),
                        *it->mutable_http()->mutable_response());
    }
    ASSERT_THAT(store_->Save(c), IsOk());
  }

  void PutCorrupt(const std::string& name) {
    if (memory_ != nullptr) {
      memory_->PutBytes(name, "\xff\xff\xff not a cassette");
    } else {
      std::ofstream(tmp_.path() + "/" + name + ".pb", std::ios::binary)
          << "\xff\xff\xff not a cassette";
    }
  }

  // Runs one exchange through the manager as the proxy would.
  void Forwarded(const core::HttpRequest& req, const core::HttpResponse& res) {
    core::Decision d = manager_->OnRequest({}, req);
    const core::Forward* fwd = AsForward(d);
    ASSERT_NE(fwd, nullptr) << "expected the request to be forwarded";
    clock_.Advance(absl::Seconds(1));
    manager_->OnForwarded(*fwd, req, res, Timing());
  }

  TempDir tmp_;
  core::FakeClock clock_{kStart};
  std::unique_ptr<cassette::CassetteStore> store_;
  MemoryCassetteStore* memory_ = nullptr;
  std::unique_ptr<SessionManager> manager_;
};

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

INSTANTIATE_TEST_SUITE_P(
    Stores, SessionManagerTest,
    ::testing::Values(StoreKind::kMemory, StoreKind::kFile),
    [](const ::testing::TestParamInfo<StoreKind>& param_info) {
      return param_info.param == StoreKind::kMemory ? std::string("Memory")
                                                    : std::string("File");
    });

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
