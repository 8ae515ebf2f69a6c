#include "server/replay/player.h"

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::replay {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

core::HttpRequest Req(std::string method, std::string url,
                      std::string body = "") {
  return core::HttpRequest{.method = std::move(method),
                           .url = std::move(url),
                           .version = 11,
                           .headers = {},
                           .body = std::move(body)};
}

RecordedExchange Exchange(uint64_t index, core::HttpRequest request,
                          std::string response_body) {
  return RecordedExchange{
      .interaction_index = index,
      .request = std::move(request),
      .response = std::make_shared<const core::HttpResponse>(
          core::HttpResponse{.status = 200, .body = std::move(response_body)})};
}

// Body of a hit, or a description of the miss (so failures read well).
std::string Body(const std::variant<Player::Hit, Player::Miss>& answer) {
  if (const auto* hit = std::get_if<Player::Hit>(&answer)) {
    return hit->response->body;
  }
  return "MISS:" + std::get<Player::Miss>(answer).reason;
}

std::vector<RecordedExchange> PollingCassette() {
  std::vector<RecordedExchange> v;
  v.push_back(Exchange(0, Req("GET", "http://h/status"), "pending"));
  v.push_back(Exchange(1, Req("POST", "http://h/job", "x"), "created"));
  v.push_back(Exchange(2, Req("GET", "http://h/status"), "running"));
  v.push_back(Exchange(3, Req("GET", "http://h/status"), "done"));
  return v;
}

TEST(PlayerTest, IdenticalRequestsAnsweredInRecordedOrder) {
  Player player(PollingCassette(), match::RequestMatcher(),
                OnExhausted::kRepeatLast);
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/status"))), "pending");
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/status"))), "running");
  EXPECT_EQ(Body(player.Answer(Req("POST", "http://h/job", "x"))), "created");
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/status"))), "done");
}

TEST(PlayerTest, HitCarriesTheInteractionIndex) {
  Player player(PollingCassette(), match::RequestMatcher(),
                OnExhausted::kRepeatLast);
  auto answer = player.Answer(Req("POST", "http://h/job", "x"));
  ASSERT_TRUE(std::holds_alternative<Player::Hit>(answer));
  EXPECT_EQ(std::get<Player::Hit>(answer).interaction_index, 1u);
}

TEST(PlayerTest, RepeatLastAfterExhaustion) {
  for (v1::ExhaustedPolicy policy :
       {v1::REPEAT_LAST, v1::EXHAUSTED_POLICY_UNSPECIFIED}) {
    SCOPED_TRACE(v1::ExhaustedPolicy_Name(policy));
    Player player(PollingCassette(), match::RequestMatcher(),
                  ToOnExhausted(policy));
    for (const char* expected :
         {"pending", "running", "done", "done", "done"}) {
      EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/status"))), expected);
    }
  }
}

// A poll recorded thousands of times between other requests (a recorded
// load test): each replay takes the next one in order, from a cassette
// image as from exchanges given whole, then the last repeats or, under
// EXHAUSTED_ERROR, the poll is a miss; the other requests keep their order.
TEST(PlayerTest, ARequestRecordedManyTimesReplaysInOrderThenRunsOut) {
  constexpr int kPolls = 5000;
  v1::Cassette cassette;
  std::vector<RecordedExchange> exchanges;
  for (int i = 0; i < kPolls; ++i) {
    exchanges.push_back(Exchange(2 * i, Req("GET", "http://h/poll"),
                                 "poll " + std::to_string(i)));
    exchanges.push_back(Exchange(
        2 * i + 1, Req("GET", "http://h/other/" + std::to_string(i % 3)),
        "other " + std::to_string(i)));
  }
  for (const RecordedExchange& e : exchanges) {
    v1::Interaction& interaction = *cassette.add_interactions();
    interaction.set_index(e.interaction_index);
    v1::HttpExchange& http = *interaction.mutable_http();
    cassette::ToProto(e.request, *http.mutable_request());
    cassette::ToProto(*e.response, *http.mutable_response());
  }
  for (OnExhausted on_exhausted :
       {OnExhausted::kRepeatLast, OnExhausted::kError}) {
    for (bool from_image : {false, true}) {
      SCOPED_TRACE(testing::Message() << "image " << from_image << " error "
                                      << (on_exhausted == OnExhausted::kError));
      Player player =
          from_image ? Player::FromCassette(cassette, match::RequestMatcher(),
                                            on_exhausted)
                     : Player(exchanges, match::RequestMatcher(), on_exhausted);
      for (int i = 0; i < kPolls; ++i) {
        ASSERT_EQ(Body(player.Answer(Req("GET", "http://h/poll"))),
                  "poll " + std::to_string(i));
        if (i % 7 == 0) {
          EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/other/1"))),
                    "other " + std::to_string(3 * (i / 7) + 1));
        }
      }
      const auto after = player.Answer(Req("GET", "http://h/poll"));
      if (on_exhausted == OnExhausted::kError) {
        ASSERT_TRUE(std::holds_alternative<Player::Miss>(after));
        EXPECT_EQ(std::get<Player::Miss>(after).reason, "exhausted");
        ASSERT_EQ(std::get<Player::Miss>(after).closest.size(), 1u);
        EXPECT_EQ(std::get<Player::Miss>(after).closest[0].index,
                  2u * (kPolls - 1));
      } else {
        EXPECT_EQ(Body(after), "poll " + std::to_string(kPolls - 1));
        EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/poll"))),
                  "poll " + std::to_string(kPolls - 1));
      }
      // A miss still ranks every recording, those used (and dropped) too.
      const auto miss = player.Answer(Req("GET", "http://h/pol"));
      ASSERT_TRUE(std::holds_alternative<Player::Miss>(miss));
      ASSERT_FALSE(std::get<Player::Miss>(miss).closest.empty());
      EXPECT_EQ(std::get<Player::Miss>(miss).closest[0].index % 2, 0u);
      EXPECT_THAT(player.Unused(), ::testing::Not(::testing::Contains(0u)));
    }
  }
}

TEST(PlayerTest, ExhaustedErrorGivesAnExhaustedMiss) {
  Player player(PollingCassette(), match::RequestMatcher(),
                OnExhausted::kError);
  EXPECT_EQ(Body(player.Answer(Req("POST", "http://h/job", "x"))), "created");
  auto answer = player.Answer(Req("POST", "http://h/job", "x"));
  ASSERT_TRUE(std::holds_alternative<Player::Miss>(answer));
  const Player::Miss& miss = std::get<Player::Miss>(answer);
  EXPECT_EQ(miss.reason, "exhausted");
  // The exhausted exchange is named as the closest, with no differences.
  ASSERT_EQ(miss.closest.size(), 1u);
  EXPECT_EQ(miss.closest[0].index, 1u);
  EXPECT_THAT(miss.closest[0].differences, IsEmpty());
  // Other requests still replay.
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/status"))), "pending");
}

TEST(PlayerTest, NoMatchMissListsClosestCandidates) {
  Player player(PollingCassette(), match::RequestMatcher(),
                OnExhausted::kRepeatLast);
  auto answer = player.Answer(Req("POST", "http://h/job", "y"));
  ASSERT_TRUE(std::holds_alternative<Player::Miss>(answer));
  const Player::Miss& miss = std::get<Player::Miss>(answer);
  EXPECT_EQ(miss.reason, "no-match");
  ASSERT_EQ(miss.closest.size(), 3u);  // limited to 3 of 4
  EXPECT_EQ(miss.closest[0].index, 1u);
  EXPECT_THAT(miss.closest[0].differences,
              ElementsAre(Field(&match::FieldDifference::field, "body")));
  // A miss consumes nothing.
  EXPECT_THAT(player.Unused(), ElementsAre(0, 1, 2, 3));
}

TEST(PlayerTest, EmptyPlayerMissesWithNoCandidates) {
  Player player(std::vector<RecordedExchange>{}, match::RequestMatcher(),
                OnExhausted::kRepeatLast);
  auto answer = player.Answer(Req("GET", "http://h/"));
  ASSERT_TRUE(std::holds_alternative<Player::Miss>(answer));
  EXPECT_EQ(std::get<Player::Miss>(answer).reason, "no-match");
  EXPECT_THAT(std::get<Player::Miss>(answer).closest, IsEmpty());
}

TEST(PlayerTest, UnusedListsInteractionsNeverAnswered) {
  Player player(PollingCassette(), match::RequestMatcher(),
                OnExhausted::kRepeatLast);
  EXPECT_THAT(player.Unused(), ElementsAre(0, 1, 2, 3));
  player.Answer(Req("GET", "http://h/status"));
  EXPECT_THAT(player.Unused(), ElementsAre(1, 2, 3));
  player.Answer(Req("POST", "http://h/job", "x"));
  player.Answer(Req("POST", "http://h/job", "x"));  // repeat: still used once
  EXPECT_THAT(player.Unused(), ElementsAre(2, 3));
}

// A cassette image: each exchange is parsed on first use; what it answers
// and how a miss is explained are as with exchanges given whole.
TEST(PlayerTest, AnImageOfManyAnswersEachItemAndExplainsAMiss) {
  v1::Cassette c;
  const int kItems = 2000;
  for (int i = 0; i < kItems; ++i) {
    v1::Interaction* it = c.add_interactions();
    it->set_index(static_cast<uint64_t>(i) + 100);
    cassette::ToProto(Req("GET", "http://h/item/" + std::to_string(i % 1000)),
                      *it->mutable_http()->mutable_request());
    cassette::ToProto(
        core::HttpResponse{.status = 200, .body = "body " + std::to_string(i)},
        *it->mutable_http()->mutable_response());
  }
  Player player(std::shared_ptr<const cassette::CassetteImage>(
                    cassette::CassetteImage::FromCassette(c)),
                match::RequestMatcher(), OnExhausted::kError);
  EXPECT_EQ(player.size(), static_cast<size_t>(kItems));
  // Identical requests (i and i + 1000) answer in recording order.
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/item/777"))), "body 777");
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/item/777"))), "body 1777");
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/item/777"))),
            "MISS:exhausted");
  EXPECT_EQ(Body(player.Answer(Req("GET", "http://h/item/3"))), "body 3");
  EXPECT_EQ(player.Unused().size(), static_cast<size_t>(kItems - 3));
  EXPECT_EQ(player.Unused().front(), 100u);
  auto miss = player.Answer(Req("GET", "http://h/item/12x"));
  ASSERT_TRUE(std::holds_alternative<Player::Miss>(miss));
  const Player::Miss& m = std::get<Player::Miss>(miss);
  EXPECT_EQ(m.reason, "no-match");
  ASSERT_EQ(m.closest.size(), 3u);
  // Every recorded request differs in the path only: recording order.
  EXPECT_EQ(m.closest[0].index, 0u);
  EXPECT_EQ(m.closest[2].index, 2u);
  EXPECT_THAT(m.closest[0].differences,
              ElementsAre(Field(&match::FieldDifference::field, "path")));
  EXPECT_EQ(player.exchange(2).request.url, "http://h/item/2");
  EXPECT_EQ(player.exchange(1999).interaction_index, 2099u);
}

TEST(PlayerTest, FromCassetteSkipsWebSocketsAndKeepsIndexes) {
  v1::Cassette c;
  auto add_http = [&](uint64_t index, const core::HttpRequest& req,
                      const std::string& body) {
    v1::Interaction* it = c.add_interactions();
    it->set_index(index);
    cassette::ToProto(req, *it->mutable_http()->mutable_request());
    cassette::ToProto(core::HttpResponse{.status = 200, .body = body},
                      *it->mutable_http()->mutable_response());
  };
  add_http(0, Req("GET", "http://h/a"), "a");
  v1::Interaction* ws = c.add_interactions();
  ws->set_index(1);
  ws->mutable_websocket()->mutable_upgrade_request()->set_url("ws://h/sock");
  add_http(2, Req("GET", "http://h/b"), "b");

  Player player = Player::FromCassette(c, match::RequestMatcher(),
                                       OnExhausted::kRepeatLast);
  EXPECT_EQ(player.size(), 2u);
  EXPECT_EQ(player.exchange(1).interaction_index, 2u);
  auto answer = player.Answer(Req("GET", "http://h/b"));
  ASSERT_TRUE(std::holds_alternative<Player::Hit>(answer));
  EXPECT_EQ(std::get<Player::Hit>(answer).interaction_index, 2u);
  EXPECT_EQ(std::get<Player::Hit>(answer).response->body, "b");
  EXPECT_THAT(player.Unused(), ElementsAre(0));
}

// A bidirectional gRPC call recorded while its client waited for each
// answer: the first piece came when 3 request bytes had gone upstream.
RecordedExchange Interleaved(uint64_t index, std::string request_body,
                             std::string first_answer) {
  core::HttpRequest request =
      Req("POST", "http://h/chat.Svc/Talk", std::move(request_body));
  request.headers.push_back({"content-type", "application/grpc"});
  core::HttpResponse response{.status = 200, .body = first_answer + "!!"};
  response.chunks = {{first_answer.size(), absl::ZeroDuration(), 3},
                     {2, absl::Milliseconds(1), 6}};
  return RecordedExchange{
      .interaction_index = index,
      .request = std::move(request),
      .response =
          std::make_shared<const core::HttpResponse>(std::move(response))};
}

core::HttpRequest LiveChat(std::string body) {
  core::HttpRequest live = Req("POST", "http://h/chat.Svc/Talk", body);
  live.headers.push_back({"content-type", "application/grpc"});
  return live;
}

TEST(PlayerTest, PartialRequestAnsweredOnceItReachesTheFirstPiece) {
  std::vector<RecordedExchange> v;
  v.push_back(Interleaved(0, "abcdef", "one"));
  v.push_back(Interleaved(1, "abcxyz", "two"));
  Player player(std::move(v), match::RequestMatcher(),
                OnExhausted::kRepeatLast);
  // Not yet as far as the first piece, but it may get there.
  Player::Partial early = player.AnswerPartial(LiveChat("ab"));
  EXPECT_FALSE(early.hit.has_value());
  EXPECT_TRUE(early.may_match);
  // A prefix of neither recording: a miss whatever comes next.
  Player::Partial never = player.AnswerPartial(LiveChat("zzz"));
  EXPECT_FALSE(never.hit.has_value());
  EXPECT_FALSE(never.may_match);
  Player::Partial first = player.AnswerPartial(LiveChat("abc"));
  ASSERT_TRUE(first.hit.has_value());
  EXPECT_EQ(first.hit->interaction_index, 0u);
  EXPECT_EQ(first.recorded_body, "abcdef");
  // The first is used: the same start now gets the second recording.
  Player::Partial second = player.AnswerPartial(LiveChat("abc"));
  ASSERT_TRUE(second.hit.has_value());
  EXPECT_EQ(second.hit->interaction_index, 1u);
  EXPECT_EQ(second.recorded_body, "abcxyz");
  // Both used: REPEAT_LAST answers with the last one again.
  Player::Partial again = player.AnswerPartial(LiveChat("abc"));
  ASSERT_TRUE(again.hit.has_value());
  EXPECT_EQ(again.hit->interaction_index, 1u);
}

// A gRPC call recorded many times (a recorded load test), alone and mixed
// with calls of the same method and another body: each call takes the next
// recording it can be, in order; once they are used up, REPEAT_LAST answers
// with the last one, EXHAUSTED_ERROR at once with a miss.
TEST(PlayerTest, PartialRequestsRecordedManyTimesAnswerInOrderThenRunOut) {
  for (bool mixed : {false, true}) {
    for (OnExhausted on_exhausted :
         {OnExhausted::kRepeatLast, OnExhausted::kError}) {
      SCOPED_TRACE(testing::Message() << "mixed " << mixed << " error "
                                      << (on_exhausted == OnExhausted::kError));
      constexpr int kCalls = 3000;
      auto other = [&](int i) { return mixed && i % 3 == 2; };
      std::vector<RecordedExchange> v;
      for (int i = 0; i < kCalls; ++i) {
        v.push_back(Interleaved(i, other(i) ? "abxyz1" : "abcdef",
                                "r" + std::to_string(i)));
      }
      Player player(std::move(v), match::RequestMatcher(), on_exhausted);
      int last = -1;
      for (int i = 0; i < kCalls; ++i) {
        if (other(i)) continue;
        Player::Partial hit = player.AnswerPartial(LiveChat("abc"));
        ASSERT_TRUE(hit.hit.has_value()) << i;
        ASSERT_EQ(hit.hit->interaction_index, static_cast<uint64_t>(i));
        last = i;
      }
      Player::Partial after = player.AnswerPartial(LiveChat("abc"));
      if (on_exhausted == OnExhausted::kError) {
        EXPECT_FALSE(after.hit.has_value());
        EXPECT_FALSE(after.may_match);
      } else {
        ASSERT_TRUE(after.hit.has_value());
        EXPECT_EQ(after.hit->interaction_index, static_cast<uint64_t>(last));
      }
      if (mixed) {
        // The other body's recordings were left alone.
        Player::Partial x = player.AnswerPartial(LiveChat("abx"));
        ASSERT_TRUE(x.hit.has_value());
        EXPECT_EQ(x.hit->interaction_index, 2u);
      }
    }
  }
}

TEST(PlayerTest, PartialRequestUsedUpUnderExhaustedErrorIsAMissAtOnce) {
  std::vector<RecordedExchange> v;
  v.push_back(Interleaved(0, "abcdef", "one"));
  Player player(std::move(v), match::RequestMatcher(), OnExhausted::kError);
  ASSERT_TRUE(player.AnswerPartial(LiveChat("abc")).hit.has_value());
  Player::Partial used_up = player.AnswerPartial(LiveChat("abc"));
  EXPECT_FALSE(used_up.hit.has_value());
  EXPECT_FALSE(used_up.may_match);  // no waiting for an answer never coming
}

TEST(PlayerTest, PartialRequestNeverAnswersAnExchangeRecordedWhole) {
  std::vector<RecordedExchange> v;
  RecordedExchange whole = Interleaved(0, "abcdef", "one");
  core::HttpResponse response = *whole.response;
  for (core::BodyChunk& c : response.chunks) c.request_bytes.reset();
  whole.response = std::make_shared<const core::HttpResponse>(response);
  v.push_back(std::move(whole));
  v.push_back(
      Exchange(1, Req("POST", "http://h/chat.Svc/Talk", "abcdef"), "not grpc"));
  Player player(std::move(v), match::RequestMatcher(),
                OnExhausted::kRepeatLast);
  Player::Partial partial = player.AnswerPartial(LiveChat("abcdef"));
  EXPECT_FALSE(partial.hit.has_value());
  EXPECT_TRUE(partial.may_match);
  // The whole request still matches as usual.
  EXPECT_EQ(Body(player.Answer(LiveChat("abcdef"))), "one!!");
}

}  // namespace
}  // namespace matgto::replay
