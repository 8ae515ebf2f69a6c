// gRPC's framing inside an HTTP/2 exchange ("gRPC over HTTP/2"): what a
// recorded call's bodies and trailers say, for showing, exporting and
// matching it. Bodies are stored as the wire carried them (lossless); the
// messages are split from them here.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/http.h"

namespace matgto::core {

// A request is a gRPC call when its Content-Type is application/grpc (or
// application/grpc+proto, ...).
bool IsGrpc(const HttpRequest& request);

struct GrpcMessage {
  bool compressed = false;  // the flag byte: compressed with grpc-encoding
  absl::string_view data;   // into the body it was split from
};

// Splits a body into its length-prefixed messages (1 flag byte, 4-byte
// big-endian length, the bytes). INVALID_ARGUMENT when the body ends inside
// a prefix or a message.
absl::StatusOr<std::vector<GrpcMessage>> SplitGrpcMessages(
    absl::string_view body);

// The call's status as the response says it: grpc-status and grpc-message
// from the trailers, or from the headers of a trailers-only response.
// status is -1 when there is none (the call did not finish).
struct GrpcStatus {
  int code = -1;
  std::string message;  // percent-decoded
};
GrpcStatus GrpcStatusOf(const HttpResponse& response);

// `text` as a grpc-message value: percent-encoded (every byte outside
// printable ASCII, and '%'), trailing line breaks dropped, cut at 2 KiB
// (clients cap metadata at a few KiB). GrpcStatusOf decodes it.
std::string EncodeGrpcMessage(absl::string_view text);

// "OK", "NOT_FOUND", ... for a gRPC status code; the number otherwise.
std::string GrpcCodeName(int code);

}  // namespace matgto::core
