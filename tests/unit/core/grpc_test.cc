#include "server/core/grpc.h"

#include <string>

#include "gtest/gtest.h"

namespace matgto::core {
namespace {

std::string Frame(bool compressed, const std::string& data) {
  std::string out;
  out.push_back(compressed ? 1 : 0);
  const uint32_t n = static_cast<uint32_t>(data.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  return out + data;
}

TEST(GrpcTest, SplitsLengthPrefixedMessages) {
  const std::string body = Frame(false, "abc") + Frame(true, "") +
                           Frame(false, std::string(300, 'x'));
  auto messages = SplitGrpcMessages(body);
  ASSERT_TRUE(messages.ok()) << messages.status();
  ASSERT_EQ(messages->size(), 3u);
  EXPECT_EQ((*messages)[0].data, "abc");
  EXPECT_FALSE((*messages)[0].compressed);
  EXPECT_EQ((*messages)[1].data, "");
  EXPECT_TRUE((*messages)[1].compressed);
  EXPECT_EQ((*messages)[2].data.size(), 300u);
  EXPECT_TRUE(SplitGrpcMessages("")->empty());
}

TEST(GrpcTest, TruncatedBodiesAreErrorsThatSayWhere) {
  const std::string one = Frame(false, "hello");
  auto in_prefix = SplitGrpcMessages(one + one.substr(0, 3));
  EXPECT_EQ(in_prefix.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(in_prefix.status().message().find("prefix at byte 10"),
            std::string::npos)
      << in_prefix.status();
  auto in_message = SplitGrpcMessages(one.substr(0, 7));
  EXPECT_NE(in_message.status().message().find("says 5 bytes but 2 follow"),
            std::string::npos)
      << in_message.status();
}

TEST(GrpcTest, StatusFromTrailersOrATrailersOnlyResponse) {
  HttpResponse r;
  r.status = 200;
  r.trailers = {{"grpc-status", "5"}, {"grpc-message", "no%20such%25thing"}};
  GrpcStatus s = GrpcStatusOf(r);
  EXPECT_EQ(s.code, 5);
  EXPECT_EQ(s.message, "no such%thing");
  EXPECT_EQ(GrpcCodeName(s.code), "NOT_FOUND");

  HttpResponse trailers_only;
  trailers_only.headers = {{"content-type", "application/grpc"},
                           {"grpc-status", "14"}};
  EXPECT_EQ(GrpcStatusOf(trailers_only).code, 14);
  EXPECT_EQ(GrpcCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(GrpcStatusOf(HttpResponse{}).code, -1);
  EXPECT_EQ(GrpcCodeName(42), "42");
}

TEST(GrpcTest, MessagesArePercentEncodedAndDecodedBack) {
  const std::string text = "50% off: caf\xc3\xa9\nnext line\n";
  const std::string encoded = EncodeGrpcMessage(text);
  EXPECT_EQ(encoded, "50%25 off: caf%c3%a9%0anext line");
  HttpResponse r;
  r.trailers = {{"grpc-status", "14"}, {"grpc-message", encoded}};
  EXPECT_EQ(GrpcStatusOf(r).message, "50% off: caf\xc3\xa9\nnext line");
  EXPECT_EQ(EncodeGrpcMessage(std::string(5000, 'x')).size(), 2048u);
}

TEST(GrpcTest, IsGrpcByContentType) {
  HttpRequest r;
  EXPECT_FALSE(IsGrpc(r));
  r.headers = {{"Content-Type", "application/grpc+proto"}};
  EXPECT_TRUE(IsGrpc(r));
  r.headers = {{"content-type", "application/json"}};
  EXPECT_FALSE(IsGrpc(r));
}

}  // namespace
}  // namespace matgto::core
