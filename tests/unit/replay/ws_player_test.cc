// WsPlayer: which recorded WebSocket session answers an upgrade. Upgrades
// are looked up by their fingerprint, so a cassette of many sessions answers
// as one of a few does: in recorded order per request, then the exhausted
// policy, and a miss ranked against every recorded upgrade.
#include "server/replay/ws_player.h"

#include <memory>
#include <string>
#include <variant>

#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/ws_codec.h"

namespace matgto::replay {
namespace {

core::HttpRequest Upgrade(const std::string& url) {
  return core::HttpRequest{
      .method = "GET",
      .url = url,
      .headers = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}};
}

// `sessions` recorded sessions over `urls` URLs (session i upgrades
// ws://h/room/<i % urls> and its server says "session <i>").
std::unique_ptr<cassette::CassetteImage> Cassette(int sessions, int urls) {
  v1::Cassette c;
  for (int i = 0; i < sessions; ++i) {
    v1::Interaction* it = c.add_interactions();
    it->set_index(static_cast<uint64_t>(i));
    v1::WebSocketSession* ws = it->mutable_websocket();
    cassette::ToProto(Upgrade("ws://h/room/" + std::to_string(i % urls)),
                      *ws->mutable_upgrade_request());
    cassette::ToProto(core::HttpResponse{.status = 101},
                      *ws->mutable_upgrade_response());
    cassette::ToProto(
        core::WsMessage{.direction = core::WsDirection::kServerToClient,
                        .payload = "session " + std::to_string(i)},
        *ws->add_messages());
  }
  return cassette::CassetteImage::FromCassette(c);
}

// The first message of the session that answers, or "MISS:<reason>".
std::string Answer(WsPlayer& player, const std::string& url) {
  auto answer = player.Answer(Upgrade(url));
  if (const auto* miss = std::get_if<Player::Miss>(&answer)) {
    return "MISS:" + miss->reason;
  }
  return std::get<WsPlayer::Hit>(answer).recording->messages.at(0).payload;
}

TEST(WsPlayerTest, ManySessionsAnswerInRecordedOrderPerRequest) {
  const int kSessions = 20000;
  const int kUrls = 100;
  WsPlayer player =
      WsPlayer::FromImage(*Cassette(kSessions, kUrls), match::RequestMatcher(),
                          OnExhausted::kError);
  ASSERT_EQ(player.size(), static_cast<size_t>(kSessions));
  // Every session once, the rooms interleaved: each room's sessions in the
  // order they were recorded.
  for (int round = 0; round < kSessions / kUrls; ++round) {
    for (int room = 0; room < kUrls; ++room) {
      ASSERT_EQ(Answer(player, "ws://h/room/" + std::to_string(room)),
                "session " + std::to_string(round * kUrls + room))
          << "round " << round << " room " << room;
    }
  }
  EXPECT_TRUE(player.Unused().empty());
  EXPECT_EQ(Answer(player, "ws://h/room/7"), "MISS:exhausted");
}

TEST(WsPlayerTest, WhenAllAreUsedTheLastAnswersAgainUnderRepeatLast) {
  WsPlayer player = WsPlayer::FromImage(
      *Cassette(4, 2), match::RequestMatcher(), OnExhausted::kRepeatLast);
  EXPECT_EQ(Answer(player, "ws://h/room/1"), "session 1");
  EXPECT_EQ(Answer(player, "ws://h/room/1"), "session 3");
  EXPECT_EQ(Answer(player, "ws://h/room/1"), "session 3");
  ASSERT_EQ(player.Unused().size(), 2u);
  EXPECT_EQ(player.Unused()[0], 0u);
  EXPECT_EQ(player.Unused()[1], 2u);
}

TEST(WsPlayerTest, AMissIsRankedAgainstEveryRecordedUpgrade) {
  WsPlayer player = WsPlayer::FromImage(
      *Cassette(300, 30), match::RequestMatcher(), OnExhausted::kError);
  auto answer = player.Answer(Upgrade("ws://h/room/12x"));
  ASSERT_TRUE(std::holds_alternative<Player::Miss>(answer));
  const Player::Miss& miss = std::get<Player::Miss>(answer);
  EXPECT_EQ(miss.reason, "no-match");
  ASSERT_EQ(miss.closest.size(), 3u);
  // The path is the only difference; ties go in recording order.
  EXPECT_EQ(miss.closest[0].index, 0u);
  ASSERT_EQ(miss.closest[0].differences.size(), 1u);
  EXPECT_EQ(miss.closest[0].differences[0].field, "path");
  EXPECT_EQ(miss.closest[0].differences[0].live, "/room/12x");
  // Another host differs more than another path.
  auto other = player.Answer(Upgrade("ws://elsewhere/room/1"));
  ASSERT_TRUE(std::holds_alternative<Player::Miss>(other));
  EXPECT_EQ(std::get<Player::Miss>(other).closest.at(0).index, 1u);
}

}  // namespace
}  // namespace matgto::replay
