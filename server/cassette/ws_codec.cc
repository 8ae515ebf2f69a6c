#include "server/cassette/ws_codec.h"

#include "server/cassette/proto_time.h"

namespace matgto::cassette {
namespace {

v1::Direction DirectionToProto(core::WsDirection d) {
  return d == core::WsDirection::kClientToServer ? v1::CLIENT_TO_SERVER
                                                 : v1::SERVER_TO_CLIENT;
}

core::WsDirection DirectionFromProto(v1::Direction d) {
  return d == v1::SERVER_TO_CLIENT ? core::WsDirection::kServerToClient
                                   : core::WsDirection::kClientToServer;
}

v1::WsMessageKind KindToProto(core::WsKind kind) {
  switch (kind) {
    case core::WsKind::kText:
      return v1::WS_TEXT;
    case core::WsKind::kBinary:
      return v1::WS_BINARY;
    case core::WsKind::kPing:
      return v1::WS_PING;
    case core::WsKind::kPong:
      return v1::WS_PONG;
  }
  return v1::WS_TEXT;
}

core::WsKind KindFromProto(v1::WsMessageKind kind) {
  switch (kind) {
    case v1::WS_BINARY:
      return core::WsKind::kBinary;
    case v1::WS_PING:
      return core::WsKind::kPing;
    case v1::WS_PONG:
      return core::WsKind::kPong;
    default:
      return core::WsKind::kText;
  }
}

}  // namespace

void ToProto(const core::WsMessage& in, v1::WsMessage& out) {
  out.set_direction(DirectionToProto(in.direction));
  out.set_kind(KindToProto(in.kind));
  out.set_payload(in.payload);
  *out.mutable_since_open() = ToProtoDuration(in.since_open);
}

void ToProto(const core::WsClose& in, v1::WsClose& out) {
  out.set_initiator(DirectionToProto(in.initiator));
  out.set_code(static_cast<uint32_t>(in.code));
  out.set_reason(in.reason);
  *out.mutable_since_open() = ToProtoDuration(in.since_open);
}

core::WsMessage FromProto(const v1::WsMessage& in) {
  core::WsMessage out;
  out.direction = DirectionFromProto(in.direction());
  out.kind = KindFromProto(in.kind());
  out.payload = in.payload();
  out.since_open = FromProtoDuration(in.since_open());
  return out;
}

core::WsClose FromProto(const v1::WsClose& in) {
  core::WsClose out;
  out.initiator = DirectionFromProto(in.initiator());
  out.code = static_cast<int>(in.code());
  out.reason = in.reason();
  out.since_open = FromProtoDuration(in.since_open());
  return out;
}

}  // namespace matgto::cassette
