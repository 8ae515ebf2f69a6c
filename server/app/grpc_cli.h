// gRPC messages in `matgto cassette` commands: the descriptors that decode
// them (a --descriptor-set file, or the cassette's own), the JSON lines
// `cassette show` prints under a gRPC row, the JSON `cassette export` adds,
// and `cassette add-descriptors`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/grpc_json.h"

namespace matgto::app {

// From the FileDescriptorSet `descriptor_set` when it is not empty, else
// from the cassette's grpc_descriptors; null when there is neither.
absl::StatusOr<std::unique_ptr<cassette::GrpcJson>> GrpcDecoderFor(
    const v1::Cassette& cassette, const std::string& descriptor_set);

// "> {json}" for each request message, "< {json}" for each response one,
// or why they cannot be shown.
std::vector<std::string> GrpcDetails(const cassette::GrpcJson& decoder,
                                     const v1::HttpExchange& http);

// Sets grpc_messages_json on both sides of every gRPC exchange whose
// messages decode.
void AddGrpcMessagesJson(const cassette::GrpcJson& decoder,
                         v1::Cassette& cassette);

}  // namespace matgto::app
