#include "server/cassette/ws_codec.h"

#include "gtest/gtest.h"
#include "server/cassette/proto_time.h"

namespace matgto::cassette {
namespace {

TEST(WsCodecTest, MessagesRoundTripEveryKindAndDirection) {
  for (core::WsKind kind : {core::WsKind::kText, core::WsKind::kBinary,
                            core::WsKind::kPing, core::WsKind::kPong}) {
    for (core::WsDirection direction : {core::WsDirection::kClientToServer,
                                        core::WsDirection::kServerToClient}) {
      const core::WsMessage in{.direction = direction,
                               .kind = kind,
                               .payload = std::string("a\0b", 3),
                               .since_open = absl::Milliseconds(1500)};
      v1::WsMessage proto;
      ToProto(in, proto);
      const core::WsMessage out = FromProto(proto);
      EXPECT_EQ(out.direction, in.direction);
      EXPECT_EQ(out.kind, in.kind);
      EXPECT_EQ(out.payload, in.payload);
      EXPECT_EQ(out.since_open, in.since_open);
    }
  }
}

TEST(WsCodecTest, ProtoNamesAreTheSchemaOnes) {
  v1::WsMessage proto;
  ToProto(core::WsMessage{.direction = core::WsDirection::kServerToClient,
                          .kind = core::WsKind::kBinary},
          proto);
  EXPECT_EQ(proto.direction(), v1::SERVER_TO_CLIENT);
  EXPECT_EQ(proto.kind(), v1::WS_BINARY);
}

TEST(WsCodecTest, UnspecifiedValuesReadAsClientText) {
  const core::WsMessage out = FromProto(v1::WsMessage());
  EXPECT_EQ(out.direction, core::WsDirection::kClientToServer);
  EXPECT_EQ(out.kind, core::WsKind::kText);
}

TEST(WsCodecTest, CloseRoundTrips) {
  const core::WsClose in{.initiator = core::WsDirection::kServerToClient,
                         .code = 4001,
                         .reason = "bye",
                         .since_open = absl::Seconds(3)};
  v1::WsClose proto;
  ToProto(in, proto);
  EXPECT_EQ(proto.initiator(), v1::SERVER_TO_CLIENT);
  EXPECT_EQ(proto.code(), 4001u);
  const core::WsClose out = FromProto(proto);
  EXPECT_EQ(out.initiator, in.initiator);
  EXPECT_EQ(out.code, in.code);
  EXPECT_EQ(out.reason, in.reason);
  EXPECT_EQ(out.since_open, in.since_open);
}

TEST(ProtoTimeTest, DurationsRoundTripToTheNanosecond) {
  const absl::Duration d = absl::Nanoseconds(1234567891);
  EXPECT_EQ(FromProtoDuration(ToProtoDuration(d)), d);
  EXPECT_EQ(ToProtoTimestamp(absl::FromUnixSeconds(1700000000)).seconds(),
            1700000000);
}

}  // namespace
}  // namespace matgto::cassette
