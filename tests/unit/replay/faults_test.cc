// Fault rules and replay latency decided without a socket: selection,
// determinism, validation, what each action does to a decision.
#include "server/replay/faults.h"

#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/proto_time.h"
#include "server/replay/policy.h"
#include "server/replay/rules.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::replay {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Break = core::Delivery::Break;

core::HttpRequest Get(std::string url) {
  return core::HttpRequest{.method = "GET", .url = std::move(url)};
}

v1::Fault Status(uint32_t code) {
  v1::Fault f;
  f.mutable_status()->set_code(code);
  return f;
}

// Which of `n` requests to `url` the set hits.
std::vector<int> Hits(FaultSet& set, int n,
                      const std::string& url = "http://h/") {
  std::vector<int> out;
  for (int i = 1; i <= n; ++i) {
    if (set.Pick(Get(url)).has_value()) out.push_back(i);
  }
  return out;
}

TEST(FaultSetTest, SelectorsFirstNEveryNthAndAll) {
  FaultSet first(1);
  v1::Fault f = Status(503);
  f.set_first_n(2);
  ASSERT_THAT(first.Add({f}, 0), IsOk());
  EXPECT_THAT(Hits(first, 5), ElementsAre(1, 2));

  FaultSet every(1);
  f.set_every_nth(3);
  ASSERT_THAT(every.Add({f}, 0), IsOk());
  EXPECT_THAT(Hits(every, 7), ElementsAre(3, 6));

  FaultSet all(1);
  ASSERT_THAT(all.Add({Status(500)}, 0), IsOk());
  EXPECT_THAT(Hits(all, 3), ElementsAre(1, 2, 3));
  EXPECT_EQ(all.List()[0].applied(), 3u);
  EXPECT_EQ(all.List()[0].id(), "f1");
}

TEST(FaultSetTest, ProbabilityIsReproducibleWithTheSameSeed) {
  v1::Fault f = Status(500);
  f.set_probability(0.5);
  FaultSet a(7), b(99);
  ASSERT_THAT(a.Add({f}, 0), IsOk());
  ASSERT_THAT(b.Add({f}, 7), IsOk());  // reseeded to 7
  EXPECT_EQ(b.seed(), 7u);
  const std::vector<int> ha = Hits(a, 40), hb = Hits(b, 40);
  EXPECT_EQ(ha, hb);
  EXPECT_GT(ha.size(), 5u);
  EXPECT_LT(ha.size(), 35u);
}

TEST(FaultSetTest, MethodAndUrlPatternNarrowTheRule) {
  FaultSet set(1);
  v1::Fault f = Status(503);
  f.set_method("post");
  f.set_url_pattern("/orders/[0-9]+$");
  ASSERT_THAT(set.Add({f}, 0), IsOk());
  EXPECT_FALSE(set.Pick(Get("http://h/orders/1")).has_value());  // GET
  core::HttpRequest post = Get("http://h/orders/12");
  post.method = "POST";
  EXPECT_TRUE(set.Pick(post).has_value());
  post.url = "http://h/orders/12/lines";
  EXPECT_FALSE(set.Pick(post).has_value());
}

TEST(FaultSetTest, BadRulesAreInvalidArgumentAndAddNothing) {
  FaultSet set(1);
  v1::Fault none;
  EXPECT_THAT(set.Add({none}, 0), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("needs an action")));
  v1::Fault re = Status(503);
  re.set_url_pattern("(unclosed");
  EXPECT_THAT(set.Add({Status(500), re}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad RE2 pattern")));
  v1::Fault p = Status(503);
  p.set_probability(2);
  EXPECT_THAT(set.Add({p}, 0), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("between 0 and 1")));
  EXPECT_THAT(set.Add({Status(42)}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_TRUE(set.List().empty());
}

TEST(FaultSetTest, ClearByIdOrAllAndUnknownIdIsNotFound) {
  FaultSet set(1);
  ASSERT_THAT(set.Add({Status(500), Status(503)}, 0), IsOk());
  EXPECT_THAT(set.Clear({"f9"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'f9'")));
  absl::StatusOr<std::vector<v1::Fault>> left = set.Clear({"f1"});
  ASSERT_THAT(left, IsOk());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].id(), "f2");
  ASSERT_THAT(set.Clear({}), IsOk());
  EXPECT_FALSE(set.Pick(Get("http://h/")).has_value());
}

TEST(FaultActionTest, StatusHangAndEarlyResetAnswerInstead) {
  v1::Fault status = Status(503);
  status.set_id("f1");
  auto* h = status.mutable_status()->add_headers();
  h->set_name("Retry-After");
  h->set_value("1");
  ASSERT_TRUE(ReplacesAnswer(status));
  core::Decision d = Replacement(status);
  const core::HttpResponse& r = *std::get<core::Reply>(d).response;
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(*core::FindHeader(r.headers, "Retry-After"), "1");
  EXPECT_EQ(*core::FindHeader(r.headers, "X-Matgto-Fault"), "f1");

  v1::Fault hang;
  hang.mutable_hang();
  EXPECT_EQ(std::get<core::Reply>(Replacement(hang)).delivery.breaks,
            Break::kHang);
  v1::Fault reset;
  reset.mutable_reset();
  EXPECT_TRUE(ReplacesAnswer(reset));
  EXPECT_EQ(std::get<core::Reply>(Replacement(reset)).delivery.breaks,
            Break::kResetBeforeHeaders);
}

TEST(FaultActionTest, ShapingFaultsChangeTheDeliveryAndNoteForwards) {
  v1::Fault delay;
  delay.set_id("f2");
  *delay.mutable_delay() = cassette::ToProtoDuration(absl::Seconds(2));
  EXPECT_FALSE(ReplacesAnswer(delay));
  core::Decision forward = core::Forward{7};
  Shape(delay, forward);
  const core::Forward& f = std::get<core::Forward>(forward);
  EXPECT_EQ(f.delivery.first_byte_delay, absl::Seconds(2));
  EXPECT_EQ(f.fault, "f2 delay 2s");
  EXPECT_EQ(f.ticket, 7u);

  v1::Fault mid;
  mid.mutable_reset()->set_when(v1::ResetFault::MID_BODY);
  EXPECT_FALSE(ReplacesAnswer(mid));
  core::Decision reply = core::Reply{nullptr, ""};
  Shape(mid, reply);
  EXPECT_EQ(std::get<core::Reply>(reply).delivery.breaks, Break::kResetMidBody);

  v1::Fault bw;
  bw.set_bandwidth_bytes_per_second(1000);
  Shape(bw, reply);
  EXPECT_EQ(std::get<core::Reply>(reply).delivery.bytes_per_second, 1000u);
}

TEST(LatencyTest, AsRecordedScaledAndFixedWithJitter) {
  v1::CassetteOptions o;
  o.mutable_latency()->set_mode(v1::LATENCY_AS_RECORDED);
  o.mutable_latency()->set_scale(0.5);
  LatencyPlan plan = ReplayPolicy::FromOptions(o).latency;
  core::Delivery d =
      plan.For(absl::Milliseconds(100), absl::Milliseconds(300), 0);
  EXPECT_EQ(d.first_byte_delay, absl::Milliseconds(50));
  EXPECT_EQ(d.body_duration, absl::Milliseconds(100));

  o.mutable_latency()->set_mode(v1::LATENCY_FIXED);
  *o.mutable_latency()->mutable_fixed() =
      cassette::ToProtoDuration(absl::Milliseconds(100));
  *o.mutable_latency()->mutable_jitter() =
      cassette::ToProtoDuration(absl::Milliseconds(50));
  plan = ReplayPolicy::FromOptions(o).latency;
  EXPECT_EQ(plan.For({}, {}, 0).first_byte_delay, absl::Milliseconds(50));
  EXPECT_EQ(plan.For({}, {}, 0.5).first_byte_delay, absl::Milliseconds(100));
  EXPECT_TRUE(ReplayPolicy::FromOptions({})
                  .latency.For(absl::Seconds(1), absl::Seconds(2), 0)
                  .Immediate());
}

TEST(MergeOptionsTest, EveryFieldSetInTheOverrideWinsMessagesWhole) {
  v1::CassetteOptions stored;
  stored.set_ws_speed(2);
  stored.mutable_latency()->set_mode(v1::LATENCY_FIXED);
  stored.mutable_latency()->set_scale(3);
  stored.mutable_match_rules()->add_ignore_query_params("a");
  v1::CassetteOptions over;
  over.mutable_latency()->set_mode(v1::LATENCY_AS_RECORDED);
  over.set_ws_speed(-1);  // not positive: the stored one stays
  v1::CassetteOptions out = MergeOptions(stored, over);
  EXPECT_EQ(out.latency().mode(), v1::LATENCY_AS_RECORDED);
  EXPECT_EQ(out.latency().scale(), 0);  // replaced whole, not merged
  EXPECT_EQ(out.ws_speed(), 2);
  EXPECT_EQ(out.match_rules().ignore_query_params_size(), 1);
}

}  // namespace
}  // namespace matgto::replay

namespace matgto::replay {
namespace {

TEST(WebSocketFaultTest, OnlyUpgradesPickThemAndTheyShapeTheSession) {
  FaultSet set(1);
  v1::Fault ws;
  ws.mutable_websocket()->set_drop_after_messages(2);
  *ws.mutable_websocket()->mutable_message_delay() =
      cassette::ToProtoDuration(absl::Milliseconds(100));
  ASSERT_THAT(set.Add({ws, Status(503)}, 0), IsOk());
  // An HTTP request skips the WebSocket rule; an upgrade skips the others.
  std::optional<v1::Fault> http = set.Pick(Get("http://h/"));
  ASSERT_TRUE(http.has_value());
  EXPECT_TRUE(http->has_status());
  std::optional<v1::Fault> up = set.Pick(Get("ws://h/chat"), true);
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(DescribeFault(*up), "f1 websocket drop after 2, delay 100ms");
  core::WsDecision relay = core::WsRelay{3, nullptr};
  ShapeWebSocket(*up, relay);
  EXPECT_EQ(std::get<core::WsRelay>(relay).faults.drop_after_messages, 2u);
  EXPECT_EQ(std::get<core::WsRelay>(relay).faults.message_delay,
            absl::Milliseconds(100));
  v1::Fault empty;
  empty.mutable_websocket();
  EXPECT_THAT(set.Add({empty}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("drops after N messages or delays")));
}

}  // namespace
}  // namespace matgto::replay
