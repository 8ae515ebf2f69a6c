// What replay does on a miss, without a session or a socket.
#include "server/replay/miss.h"

#include <string>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/core/http.h"
#include "tests/unit/replay/mode_test_util.h"

namespace matgto::replay {
namespace {

using mode_test::AsForward;
using mode_test::AsReply;
using mode_test::Req;
using ::testing::HasSubstr;

// Two recordings; candidate i is recordings[i].
class MissTest : public ::testing::Test {
 protected:
  RecordedAt Recorded() const {
    return [this](size_t i) {
      return RecordedRequest{.interaction_index = 10 + i,
                             .request = &recordings_[i]};
    };
  }

  // A no-match whose closest candidate is recording 1, differing in body.
  Player::Miss NoMatch() const {
    return Player::Miss{
        .reason = "no-match",
        .closest = {match::Candidate{
            .index = 1,
            .differences = {{.field = "body", .recorded = "x", .live = "y"}}}}};
  }

  std::vector<core::HttpRequest> recordings_ = {Req("GET", "http://h/a"),
                                                Req("POST", "http://h/b", "x")};
  MissLog log_;
};

TEST_F(MissTest, TheReportNamesCandidatesByInteraction) {
  const v1::Miss report =
      MissReport(Req("POST", "http://h/b", "y"), NoMatch(), Recorded());
  EXPECT_EQ(report.method(), "POST");
  EXPECT_EQ(report.url(), "http://h/b");
  EXPECT_EQ(report.reason(), "no-match");
  ASSERT_EQ(report.closest_size(), 1);
  EXPECT_EQ(report.closest(0).interaction_index(), 11u);
  EXPECT_EQ(report.closest(0).method(), "POST");
  ASSERT_EQ(report.closest(0).differences_size(), 1);
  EXPECT_EQ(report.closest(0).differences(0).field(), "body");
  EXPECT_EQ(report.closest(0).differences(0).recorded(), "x");
  EXPECT_EQ(report.closest(0).differences(0).live(), "y");
}

TEST_F(MissTest, ExplainsANoMatchWithItsClosestRecording) {
  const v1::Miss report =
      MissReport(Req("POST", "http://h/b", "y"), NoMatch(), Recorded());
  EXPECT_EQ(ExplainMiss(report, "cas", 2),
            "matgto: no recorded interaction in cassette 'cas' (2 candidates) "
            "matches POST http://h/b. Closest: interaction #11 POST "
            "http://h/b, which differs in body (recorded 'x', live 'y').");
}

TEST_F(MissTest, ExplainsAnExhaustedRequest) {
  const v1::Miss report = MissReport(
      Req("GET", "http://h/a"),
      Player::Miss{.reason = "exhausted", .closest = {{0, {}}}}, Recorded());
  EXPECT_EQ(ExplainMiss(report, "cas", 2),
            "matgto: every recorded answer to GET http://h/a in cassette "
            "'cas' has been used and the cassette's on_exhausted policy is "
            "EXHAUSTED_ERROR.");
}

TEST_F(MissTest, TheReplyIs599WithAProxyErrorBody) {
  const core::Reply reply = MissReply(
      MissReport(Req("POST", "http://h/b", "y"), NoMatch(), Recorded()), "cas",
      2);
  EXPECT_EQ(reply.error, "no-match");
  ASSERT_NE(reply.response, nullptr);
  EXPECT_EQ(reply.response->status, kMissStatus);
  EXPECT_EQ(reply.response->reason, "Matgto No Match");
  const std::string* error =
      core::FindHeader(reply.response->headers, "x-matgto-error");
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(*error, "no-match");
  const std::string* type =
      core::FindHeader(reply.response->headers, "content-type");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(*type, "application/json");

  v1::ProxyError body;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(reply.response->body, &body)
          .ok());
  EXPECT_EQ(body.error(), "no-match");
  EXPECT_EQ(body.cassette(), "cas");
  EXPECT_THAT(body.message(), HasSubstr("Closest: interaction #11"));
  EXPECT_EQ(body.miss().closest(0).interaction_index(), 11u);
  // Proto field names, as the clients read them.
  EXPECT_THAT(reply.response->body, HasSubstr("\"interaction_index\""));
}

TEST_F(MissTest, TheLogCountsEveryMissAndKeepsTheFirstOnes) {
  for (int i = 0; i < kMaxMissesKept + 3; ++i) {
    v1::Miss miss;
    miss.set_url("http://h/" + std::to_string(i));
    log_.Add(std::move(miss));
  }
  EXPECT_EQ(log_.count(), static_cast<uint64_t>(kMaxMissesKept + 3));
  ASSERT_EQ(log_.kept().size(), static_cast<size_t>(kMaxMissesKept));
  EXPECT_EQ(log_.kept().back().url(),
            "http://h/" + std::to_string(kMaxMissesKept - 1));
}

TEST_F(MissTest, OnMissErrorRepliesAndLogsTheFullReport) {
  const MissHandler handler(OnMiss::kError, "cas", 9);
  const core::Decision d = handler.OnHttpMiss(Req("POST", "http://h/b", "y"),
                                              NoMatch(), 2, Recorded(), log_);
  ASSERT_NE(AsReply(d), nullptr);
  EXPECT_EQ(AsReply(d)->response->status, kMissStatus);
  ASSERT_EQ(log_.kept().size(), 1u);
  EXPECT_EQ(log_.kept()[0].closest(0).interaction_index(), 11u);
}

TEST_F(MissTest, OnMissPassthroughForwardsWithTheTicket) {
  const MissHandler handler(OnMiss::kPassthrough, "cas", 9);
  const core::Decision d = handler.OnHttpMiss(Req("POST", "http://h/b", "y"),
                                              NoMatch(), 2, Recorded(), log_);
  ASSERT_NE(AsForward(d), nullptr);
  EXPECT_EQ(AsForward(d)->ticket, 9u);
  ASSERT_EQ(log_.kept().size(), 1u);
  EXPECT_EQ(log_.kept()[0].reason(), "no-match, passed through");
  EXPECT_EQ(log_.kept()[0].url(), "http://h/b");
}

TEST_F(MissTest, OnMissRecordForwardsToo) {
  const MissHandler handler(OnMiss::kRecord, "cas", 9);
  const core::Decision d = handler.OnHttpMiss(Req("GET", "http://h/new"),
                                              NoMatch(), 2, Recorded(), log_);
  ASSERT_NE(AsForward(d), nullptr);
  EXPECT_EQ(log_.kept()[0].reason(), "no-match, recorded");
}

TEST_F(MissTest, AWebSocketMissIsAlwaysAReply) {
  for (OnMiss policy :
       {OnMiss::kError, OnMiss::kPassthrough, OnMiss::kRecord}) {
    const MissHandler handler(policy, "cas", 9);
    const core::Reply reply = handler.OnWsMiss(Req("GET", "http://h/ws"),
                                               NoMatch(), 2, Recorded(), log_);
    EXPECT_EQ(reply.response->status, kMissStatus);
  }
  EXPECT_EQ(log_.count(), 3u);
}

TEST_F(MissTest, AWebSocketMismatchNamesTheMessage) {
  const core::WsMessage expected{.kind = core::WsKind::kText,
                                 .payload = "hello"};
  const core::WsMessage got{.kind = core::WsKind::kBinary, .payload = "bye"};
  v1::Miss miss = WsMismatchReport("http://h/ws", 4, 2, &expected, got);
  EXPECT_EQ(miss.reason(), "ws-mismatch");
  EXPECT_EQ(miss.url(), "http://h/ws");
  ASSERT_EQ(miss.closest_size(), 1);
  EXPECT_EQ(miss.closest(0).interaction_index(), 4u);
  EXPECT_EQ(miss.closest(0).method(), "WEBSOCKET");
  EXPECT_EQ(miss.closest(0).differences(0).field(), "message[2]");
  EXPECT_EQ(miss.closest(0).differences(0).recorded(), "text hello");
  EXPECT_EQ(miss.closest(0).differences(0).live(), "binary bye");

  miss = WsMismatchReport("http://h/ws", 4, 5, nullptr, got);
  EXPECT_EQ(miss.closest(0).differences(0).recorded(),
            "<nothing: the recording had ended>");
}

}  // namespace
}  // namespace matgto::replay
