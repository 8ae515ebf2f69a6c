// gRPC messages of a recorded call as JSON, from the .proto descriptors of
// its service (a FileDescriptorSet, as `protoc --descriptor_set_out
// --include_imports` writes it): what `matgto cassette show
// --descriptor-set FILE` prints under a gRPC row.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace google::protobuf {
class DescriptorPool;
class DynamicMessageFactory;
class SimpleDescriptorDatabase;
}  // namespace google::protobuf

namespace matgto::cassette {

class GrpcJson {
 public:
  // Reads the descriptor set at `path`. NOT_FOUND when it cannot be read,
  // INVALID_ARGUMENT when it is not a FileDescriptorSet.
  static absl::StatusOr<std::unique_ptr<GrpcJson>> FromFile(
      const std::string& path);
  // The same from a FileDescriptorSet's bytes (a cassette's
  // grpc_descriptors); `source` names them in errors.
  static absl::StatusOr<std::unique_ptr<GrpcJson>> FromBytes(
      absl::string_view bytes, absl::string_view source);
  ~GrpcJson();

  // The messages of `body` (gRPC length-prefixed framing) as JSON, one
  // string per message, decoded as the input (request) or output type of
  // the method named by `path` ("/package.Service/Method"). NOT_FOUND when
  // the descriptors do not have the method; INVALID_ARGUMENT when the body
  // does not split or a message does not parse (compressed messages are
  // not decoded).
  absl::StatusOr<std::vector<std::string>> Messages(absl::string_view path,
                                                    absl::string_view body,
                                                    bool request) const;

 private:
  GrpcJson();
  std::unique_ptr<google::protobuf::SimpleDescriptorDatabase> database_;
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
};

}  // namespace matgto::cassette
