// Many sessions in one SessionManager: routing by listener and credential,
// isolation, conflicts between sessions, leases and limits. No sockets: the
// listeners are a fake of the core::SessionListeners seam that records what
// was opened and closed.
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/core/clock.h"
#include "server/replay/session_manager.h"
#include "tests/unit/testing/core_printers.h"
#include "tests/unit/testing/memory_cassette_store.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::replay {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::MemoryCassetteStore;
using ::matgto::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

// Listeners that open no socket: "127.0.0.1:<20000 + key>", and a record of
// which keys are open.
class FakeListeners final : public core::SessionListeners {
 public:
  class Port final : public core::SessionListener {
   public:
    Port(FakeListeners& owner, uint64_t key) : owner_(owner), key_(key) {
      owner_.open_[key_] = true;
    }
    ~Port() override { owner_.open_[key_] = false; }
    std::string address() const override {
      return absl::StrCat("127.0.0.1:", 20000 + key_);
    }

   private:
    FakeListeners& owner_;
    const uint64_t key_;
  };

  absl::StatusOr<std::unique_ptr<core::SessionListener>> Open(
      uint64_t key) override {
    if (exhausted_) {
      return absl::ResourceExhaustedError("no free port left in 1-2");
    }
    return std::make_unique<Port>(*this, key);
  }
  std::string shared_address() const override { return "127.0.0.1:8888"; }

  bool IsOpen(uint64_t key) const {
    auto it = open_.find(key);
    return it != open_.end() && it->second;
  }
  void set_exhausted(bool e) { exhausted_ = e; }

 private:
  std::map<uint64_t, bool> open_;
  bool exhausted_ = false;
};

// The listener key a fake address stands for.
uint64_t KeyOf(const v1::SessionInfo& info) {
  uint32_t port = 0;
  const std::string& a = info.proxy_address();
  EXPECT_TRUE(absl::SimpleAtoi(a.substr(a.rfind(':') + 1), &port)) << a;
  return port - 20000;
}

core::HttpRequest Req(std::string url) {
  return core::HttpRequest{.method = "GET",
                           .url = std::move(url),
                           .version = 11,
                           .headers = {{"Host", "h"}}};
}

core::HttpResponse Res(std::string body) {
  return core::HttpResponse{.status = 200,
                            .reason = "OK",
                            .version = 11,
                            .headers = {{"Content-Type", "text/plain"}},
                            .body = std::move(body)};
}

const core::ExchangeTiming kTiming{.started_at = kStart,
                                   .time_to_first_byte = absl::Milliseconds(1),
                                   .total = absl::Milliseconds(2)};

class SessionsTest : public ::testing::Test {
 protected:
  SessionsTest() { manager_ = Make(256); }

  std::unique_ptr<SessionManager> Make(size_t max_sessions) {
    return std::make_unique<SessionManager>(
        store_, cassette::RedactConfig::Defaults(), clock_,
        SessionManagerOptions{
            .default_mode = v1::AUTO,
            .max_sessions = max_sessions,
            .listeners = &listeners_,
            .log = [this](const std::string& line) { log_.push_back(line); }});
  }

  absl::StatusOr<v1::SessionInfo> Open(
      const std::string& name, v1::Mode mode,
      std::optional<absl::Duration> lease = std::nullopt) {
    SessionTarget target;
    target.new_session = true;
    target.lease = lease;
    target.owner = "test " + name;
    return manager_->Use(name, mode, {}, target);
  }

  // One exchange through the route, as the proxy would do it; returns the
  // body the client got.
  std::string Through(const core::Route& route, const std::string& url,
                      const std::string& live_body = "live") {
    const core::HttpRequest req = Req(url);
    core::Decision d = manager_->OnRequest(route, req);
    if (const auto* reply = std::get_if<core::Reply>(&d)) {
      return absl::StrCat(reply->response->status, " ", reply->error);
    }
    const core::Forward fwd = std::get<core::Forward>(d);
    manager_->OnForwarded(fwd, req, Res(live_body), kTiming);
    return live_body;
  }

  static core::Route ByListener(const v1::SessionInfo& info) {
    return core::Route{.listener = KeyOf(info), .credential = ""};
  }
  static core::Route ByCredential(const std::string& id) {
    return core::Route{.listener = 0, .credential = id};
  }

  std::vector<std::string> Urls(const std::string& cassette) {
    std::vector<std::string> urls;
    absl::StatusOr<v1::Cassette> c = store_.Load(cassette);
    EXPECT_THAT(c, IsOk());
    if (!c.ok()) return urls;
    for (const v1::Interaction& i : c->interactions()) {
      urls.push_back(i.http().request().url());
    }
    return urls;
  }

  void Seed(const std::string& name, const std::vector<std::string>& bodies) {
    v1::Cassette c;
    c.set_name(name);
    for (size_t i = 0; i < bodies.size(); ++i) {
      v1::Interaction* it = c.add_interactions();
      it->set_index(i);
      cassette::ToProto(Req("http://h/x"),
                        *it->mutable_http()->mutable_request());
      cassette::ToProto(Res(bodies[i]),
                        *it->mutable_http()->mutable_response());
    }
    ASSERT_THAT(store_.Save(c), IsOk());
  }

  MemoryCassetteStore store_;
  core::FakeClock clock_{kStart};
  FakeListeners listeners_;
  std::vector<std::string> log_;
  std::unique_ptr<SessionManager> manager_;
};

TEST_F(SessionsTest, EachSessionRecordsOnlyItsOwnTrafficWhicheverWayReached) {
  absl::StatusOr<v1::SessionInfo> a = Open("a", v1::RECORD);
  absl::StatusOr<v1::SessionInfo> b = Open("b", v1::RECORD);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(a->id(), b->id());
  EXPECT_THAT(a->id(), ::testing::MatchesRegex("s-[0-9a-f]{16}"));
  EXPECT_NE(a->proxy_address(), b->proxy_address());
  EXPECT_EQ(a->proxy_url(),
            absl::StrCat("http://", a->id(), ":matgto@127.0.0.1:8888"));
  EXPECT_EQ(a->owner(), "test a");

  // Interleaved, through both routes.
  Through(ByListener(*a), "http://h/a1");
  Through(ByCredential(b->id()), "http://h/b1");
  Through(ByCredential(a->id()), "http://h/a2");
  Through(ByListener(*b), "http://h/b2");
  // No credential: the default session, which has no cassette.
  EXPECT_EQ(Through({}, "http://h/default"), "503 no-cassette");

  ASSERT_THAT(manager_->Stop(a->id()), IsOk());
  ASSERT_THAT(manager_->Stop(b->id()), IsOk());
  EXPECT_THAT(Urls("a"), ElementsAre("http://h/a1", "http://h/a2"));
  EXPECT_THAT(Urls("b"), ElementsAre("http://h/b1", "http://h/b2"));
}

TEST_F(SessionsTest,
       UnknownCredentialOrClosedListenerIs407NeverAnotherSession) {
  absl::StatusOr<v1::SessionInfo> a = Open("a", v1::RECORD);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(Through(ByCredential("s-0000000000000000"), "http://h/x"),
            "407 unknown-session");
  std::optional<core::Reply> refused =
      manager_->OnConnect(ByCredential("nobody"), {});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->response->status, 407);
  EXPECT_NE(core::FindHeader(refused->response->headers, "Proxy-Authenticate"),
            nullptr);
  EXPECT_FALSE(manager_->OnConnect(ByCredential(a->id()), {}).has_value());
  EXPECT_FALSE(manager_->OnConnect({}, {}).has_value());
  core::WsDecision ws =
      manager_->OnWebSocket(ByCredential("nobody"), Req("ws://h/ws"));
  ASSERT_TRUE(std::holds_alternative<core::Reply>(ws));
  EXPECT_EQ(std::get<core::Reply>(ws).response->status, 407);

  const core::Route listener = ByListener(*a);
  ASSERT_THAT(manager_->Stop(a->id()), IsOk());
  EXPECT_FALSE(listeners_.IsOpen(listener.listener));
  EXPECT_EQ(Through(ByCredential(a->id()), "http://h/late"),
            "407 unknown-session");
  EXPECT_EQ(Through(listener, "http://h/late"), "407 unknown-session");
  EXPECT_THAT(Urls("a"), SizeIs(0));
}

TEST_F(SessionsTest, ForwardInFlightWhenItsSessionEndsIsNotRecordedElsewhere) {
  absl::StatusOr<v1::SessionInfo> a = Open("a", v1::RECORD);
  ASSERT_THAT(a, IsOk());
  const core::HttpRequest req = Req("http://h/slow");
  core::Decision d = manager_->OnRequest(ByListener(*a), req);
  ASSERT_TRUE(std::holds_alternative<core::Forward>(d));
  ASSERT_THAT(manager_->Stop(a->id()), IsOk());
  absl::StatusOr<v1::SessionInfo> b = Open("b", v1::RECORD);
  ASSERT_THAT(b, IsOk());
  manager_->OnForwarded(std::get<core::Forward>(d), req, Res("late"), kTiming);
  ASSERT_THAT(manager_->Stop(b->id()), IsOk());
  EXPECT_THAT(Urls("b"), SizeIs(0));
}

// A --no-intercept tunnel is relayed to the network unrecorded: "replay
// never touches the network" and "no cassette, nothing forwarded" hold for
// it too. Intercepted tunnels are decided request by request.
TEST_F(SessionsTest, RelayedTunnelRefusedInReplayAndWhileNoCassette) {
  const core::ConnectTarget relayed{"pinned.example", 443, true};
  const core::ConnectTarget intercepted{"pinned.example", 443, false};
  Seed("r", {"one"});
  absl::StatusOr<v1::SessionInfo> replaying = Open("r", v1::REPLAY);
  ASSERT_THAT(replaying, IsOk());
  std::optional<core::Reply> refused =
      manager_->OnConnect(ByCredential(replaying->id()), relayed);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->response->status, 403);
  EXPECT_EQ(refused->error, "no-intercept-refused");
  EXPECT_THAT(refused->response->body,
              AllOf(HasSubstr("pinned.example:443"),
                    HasSubstr("never touches the network")));
  EXPECT_FALSE(
      manager_->OnConnect(ByListener(*replaying), intercepted).has_value());

  absl::StatusOr<v1::SessionInfo> recording = Open("rec", v1::RECORD);
  ASSERT_THAT(recording, IsOk());
  EXPECT_FALSE(
      manager_->OnConnect(ByCredential(recording->id()), relayed).has_value());
  absl::StatusOr<v1::SessionInfo> passing = Open("p", v1::PASSTHROUGH);
  ASSERT_THAT(passing, IsOk());
  EXPECT_FALSE(
      manager_->OnConnect(ByCredential(passing->id()), relayed).has_value());

  // The default session has no cassette: refused like any request.
  std::optional<core::Reply> idle = manager_->OnConnect({}, relayed);
  ASSERT_TRUE(idle.has_value());
  EXPECT_EQ(idle->response->status, 503);
  EXPECT_EQ(idle->error, "no-cassette");
  EXPECT_FALSE(manager_->OnConnect({}, intercepted).has_value());
  // ...unless the server forwards while idle.
  SessionManager forwarding(
      store_, cassette::RedactConfig::Defaults(), clock_,
      SessionManagerOptions{.default_mode = v1::PASSTHROUGH,
                            .max_sessions = 4,
                            .listeners = &listeners_});
  EXPECT_FALSE(forwarding.OnConnect({}, relayed).has_value());
}

TEST_F(SessionsTest, SessionsReplayOneCassetteEachWithItsOwnUsedState) {
  Seed("shared", {"first", "second"});
  absl::StatusOr<v1::SessionInfo> a = Open("shared", v1::REPLAY);
  absl::StatusOr<v1::SessionInfo> b = Open("shared", v1::AUTO);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->mode(), v1::REPLAY);
  auto body = [&](const core::Route& route) {
    core::Decision d = manager_->OnRequest(route, Req("http://h/x"));
    return std::string(std::get<core::Reply>(d).response->body);
  };
  EXPECT_EQ(body(ByListener(*a)), "first");
  EXPECT_EQ(body(ByListener(*b)), "first");
  EXPECT_EQ(body(ByCredential(a->id())), "second");
  EXPECT_EQ(body(ByListener(*b)), "second");
}

TEST_F(SessionsTest, SecondRecorderOfACassetteIsRefusedNamingTheHolder) {
  absl::StatusOr<v1::SessionInfo> a = Open("c", v1::RECORD);
  ASSERT_THAT(a, IsOk());
  EXPECT_THAT(
      Open("c", v1::RECORD),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("'c' is being recorded by session " + a->id()),
                     HasSubstr("owner: test c"))));
  // AUTO resolves to RECORD (not saved yet) and is refused the same way;
  // so is the default session.
  EXPECT_THAT(manager_->Use("c", v1::AUTO, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  // Nothing changed: still one open session besides the default.
  EXPECT_THAT(manager_->List(), SizeIs(1));

  Seed("r", {"x"});
  ASSERT_THAT(Open("r", v1::REPLAY), IsOk());
  EXPECT_THAT(Open("r", v1::RECORD),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is being replayed by session")));
  EXPECT_THAT(manager_->CheckNotInUse("r", "delete"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("in use by session s-"),
                             HasSubstr("cannot delete"))));
  EXPECT_THAT(manager_->CheckNotInUse("other", "delete"), IsOk());
}

TEST_F(SessionsTest, ASessionCanMoveToAnotherCassetteKeepingIdAndPort) {
  absl::StatusOr<v1::SessionInfo> a = Open("one", v1::RECORD);
  ASSERT_THAT(a, IsOk());
  Through(ByListener(*a), "http://h/1");
  SessionTarget same;
  same.session = a->id();
  absl::StatusOr<v1::SessionInfo> moved =
      manager_->Use("two", v1::RECORD, {}, same);
  ASSERT_THAT(moved, IsOk());
  EXPECT_EQ(moved->id(), a->id());
  EXPECT_EQ(moved->proxy_address(), a->proxy_address());
  EXPECT_THAT(Urls("one"), ElementsAre("http://h/1"));  // saved on the move
  Through(ByListener(*a), "http://h/2");
  ASSERT_THAT(manager_->Stop(a->id()), IsOk());
  EXPECT_THAT(Urls("two"), ElementsAre("http://h/2"));
  ASSERT_THAT(manager_->Ended(), SizeIs(2));
  EXPECT_EQ(manager_->Ended()[0].end_reason(), "stopped");
  EXPECT_EQ(manager_->Ended()[1].end_reason(), "replaced");
}

TEST_F(SessionsTest, ExpiredLeaseSavesTheRecordingAndClosesTheSession) {
  absl::StatusOr<v1::SessionInfo> a =
      Open("leased", v1::RECORD, absl::Seconds(10));
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(manager_->NextLeaseExpiry(), kStart + absl::Seconds(10));
  Through(ByListener(*a), "http://h/kept");

  clock_.Advance(absl::Seconds(8));
  ASSERT_THAT(manager_->Renew(a->id()), IsOk());
  clock_.Advance(absl::Seconds(8));  // 16s in, renewed at 8s: still open
  EXPECT_EQ(manager_->ExpireLeases(), 0);
  EXPECT_THAT(manager_->List(), SizeIs(1));

  clock_.Advance(absl::Seconds(3));
  EXPECT_EQ(manager_->ExpireLeases(), 1);
  EXPECT_THAT(manager_->List(), SizeIs(0));
  EXPECT_FALSE(listeners_.IsOpen(KeyOf(*a)));
  EXPECT_THAT(Urls("leased"), ElementsAre("http://h/kept"));
  ASSERT_THAT(manager_->Ended(), SizeIs(1));
  EXPECT_EQ(manager_->Ended()[0].end_reason(), "lease-expired");
  EXPECT_EQ(manager_->Ended()[0].session().recorded(), 1u);
  EXPECT_THAT(log_, Contains(HasSubstr("lease of 10s expired")));
  EXPECT_THAT(manager_->Renew(a->id()),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("has ended (lease-expired")));
  EXPECT_EQ(manager_->NextLeaseExpiry(), absl::InfiniteFuture());
}

TEST_F(SessionsTest, LeaseExpiryKeepsASessionWhoseSaveFails) {
  absl::StatusOr<v1::SessionInfo> a = Open("x", v1::RECORD, absl::Seconds(1));
  ASSERT_THAT(a, IsOk());
  Through(ByListener(*a), "http://h/precious");
  store_.FailSavesWith(absl::UnavailableError("disk full"));
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(manager_->ExpireLeases(), 0);
  EXPECT_THAT(manager_->List(), SizeIs(1));
  EXPECT_THAT(log_, Contains(HasSubstr("could not save cassette 'x'")));
  store_.FailSavesWith(absl::OkStatus());
  clock_.Advance(absl::Seconds(6));  // retried a few seconds later
  EXPECT_EQ(manager_->ExpireLeases(), 1);
  EXPECT_THAT(Urls("x"), ElementsAre("http://h/precious"));
}

TEST_F(SessionsTest, BadTargetsAreInvalidArgumentAndUnknownSessionsNotFound) {
  SessionTarget both;
  both.session = "s-1";
  both.new_session = true;
  EXPECT_THAT(manager_->Use("a", v1::RECORD, {}, both),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  SessionTarget lease_only;
  lease_only.lease = absl::Seconds(5);
  EXPECT_THAT(
      manager_->Use("a", v1::RECORD, {}, lease_only),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("new session")));
  EXPECT_THAT(Open("a", v1::RECORD, absl::Milliseconds(10)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lease must be between")));
  SessionTarget unknown;
  unknown.session = "s-feedfeedfeedfeed";
  EXPECT_THAT(
      manager_->Use("a", v1::RECORD, {}, unknown),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("s-feedfeedfeedfeed")));
  EXPECT_THAT(manager_->Stop("s-feedfeedfeedfeed"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(manager_->Renew(""),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  EXPECT_THAT(Open("../escape", v1::RECORD),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(manager_->List(), SizeIs(0));
}

TEST_F(SessionsTest, MaxSessionsAndPortExhaustionAreResourceExhausted) {
  manager_ = Make(2);
  ASSERT_THAT(Open("a", v1::RECORD), IsOk());
  ASSERT_THAT(Open("b", v1::RECORD), IsOk());
  EXPECT_THAT(Open("c", v1::RECORD),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max-sessions 2")));
  // The default session does not count.
  EXPECT_THAT(manager_->Use("d", v1::RECORD, {}), IsOk());

  manager_ = Make(10);
  listeners_.set_exhausted(true);
  EXPECT_THAT(Open("e", v1::RECORD),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("no free port")));
  EXPECT_THAT(manager_->List(), SizeIs(0));
}

TEST_F(SessionsTest, StopAllSavesEverySessionAtShutdown) {
  absl::StatusOr<v1::SessionInfo> a = Open("a", v1::RECORD);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(manager_->Use("d", v1::RECORD, {}), IsOk());
  Through(ByListener(*a), "http://h/a");
  Through({}, "http://h/d");
  ASSERT_THAT(manager_->StopAll(), IsOk());
  EXPECT_THAT(Urls("a"), ElementsAre("http://h/a"));
  EXPECT_THAT(Urls("d"), ElementsAre("http://h/d"));
  EXPECT_THAT(manager_->List(), SizeIs(0));
  EXPECT_EQ(manager_->Ended()[0].end_reason(), "shutdown");
}

TEST_F(SessionsTest, ListPutsTheDefaultSessionFirstThenByOpening) {
  absl::StatusOr<v1::SessionInfo> a = Open("a", v1::RECORD);
  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<v1::SessionInfo> b = Open("b", v1::RECORD);
  ASSERT_THAT(manager_->Use("d", v1::RECORD, {}), IsOk());
  std::vector<v1::SessionInfo> list = manager_->List();
  ASSERT_THAT(list, SizeIs(3));
  EXPECT_EQ(list[0].id(), "default");
  EXPECT_EQ(list[0].proxy_address(), "127.0.0.1:8888");
  EXPECT_EQ(list[1].id(), a->id());
  EXPECT_EQ(list[2].id(), b->id());
  EXPECT_EQ(list[1].age().seconds(), 1);
}

}  // namespace
}  // namespace matgto::replay
