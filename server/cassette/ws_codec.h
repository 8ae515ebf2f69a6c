// Conversion between core WebSocket values and the cassette protobuf schema,
// next to the HTTP codec (codec.h): what the recorder writes and the replay
// player reads.
#pragma once

#include "matgto/v1/cassette.pb.h"
#include "server/core/websocket.h"

namespace matgto::cassette {

void ToProto(const core::WsMessage& in, v1::WsMessage& out);
void ToProto(const core::WsClose& in, v1::WsClose& out);
// Unknown or unspecified enum values read as text, client-to-server.
core::WsMessage FromProto(const v1::WsMessage& in);
core::WsClose FromProto(const v1::WsClose& in);

}  // namespace matgto::cassette
