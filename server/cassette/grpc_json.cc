#include "server/cassette/grpc_json.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "server/core/grpc.h"

namespace matgto::cassette {

namespace pb = google::protobuf;

GrpcJson::GrpcJson()
    : database_(std::make_unique<pb::SimpleDescriptorDatabase>()),
      pool_(std::make_unique<pb::DescriptorPool>(database_.get())),
      factory_(std::make_unique<pb::DynamicMessageFactory>(pool_.get())) {}

GrpcJson::~GrpcJson() = default;

absl::StatusOr<std::unique_ptr<GrpcJson>> GrpcJson::FromFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return FromBytes(bytes.str(), path);
}

absl::StatusOr<std::unique_ptr<GrpcJson>> GrpcJson::FromBytes(
    absl::string_view bytes, absl::string_view source) {
  pb::FileDescriptorSet set;
  if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      set.file_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     " is not a FileDescriptorSet (write one with protoc "
                     "--descriptor_set_out=FILE --include_imports)"));
  }
  auto out = std::unique_ptr<GrpcJson>(new GrpcJson());
  for (const pb::FileDescriptorProto& file : set.file()) {
    if (!out->database_->Add(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": cannot use ", file.name()));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> GrpcJson::Messages(
    absl::string_view path, absl::string_view body, bool request) const {
  // "/pkg.Service/Method" -> "pkg.Service.Method"
  std::string name(path.substr(path.empty() || path[0] != '/' ? 0 : 1));
  const size_t slash = name.find('/');
  if (slash == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a gRPC method path"));
  }
  name[slash] = '.';
  const pb::MethodDescriptor* method = pool_->FindMethodByName(name);
  if (method == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("the descriptors have no method ", name));
  }
  const pb::Descriptor* type =
      request ? method->input_type() : method->output_type();
  const pb::Message* prototype = factory_->GetPrototype(type);
  absl::StatusOr<std::vector<core::GrpcMessage>> messages =
      core::SplitGrpcMessages(body);
  if (!messages.ok()) return messages.status();
  std::vector<std::string> out;
  for (const core::GrpcMessage& m : *messages) {
    if (m.compressed) {
      out.push_back("(compressed)");
      continue;
    }
    std::unique_ptr<pb::Message> message(prototype->New());
    if (!message->ParseFromArray(m.data.data(),
                                 static_cast<int>(m.data.size()))) {
      return absl::InvalidArgumentError(
          absl::StrCat("a message does not parse as ", type->full_name()));
    }
    std::string json;
    pb::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    if (auto st = pb::util::MessageToJsonString(*message, &json, options);
        !st.ok()) {
      return absl::InvalidArgumentError(std::string(st.message()));
    }
    out.push_back(std::move(json));
  }
  return out;
}

}  // namespace matgto::cassette
