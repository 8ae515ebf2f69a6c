#include "server/app/grpc_cli.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/app/cassette_cli.h"
#include "server/cassette/codec.h"
#include "server/core/grpc.h"
#include "server/core/url.h"

namespace matgto::app {
namespace {

std::string MethodPath(const v1::HttpRequest& request) {
  std::string path = request.url();
  if (auto parts = core::ParseAbsoluteUrl(path); parts.ok()) path = parts->path;
  return path;
}

}  // namespace

absl::StatusOr<std::unique_ptr<cassette::GrpcJson>> GrpcDecoderFor(
    const v1::Cassette& cassette, const std::string& descriptor_set) {
  if (!descriptor_set.empty()) {
    return cassette::GrpcJson::FromFile(descriptor_set);
  }
  if (cassette.grpc_descriptors().empty()) {
    return std::unique_ptr<cassette::GrpcJson>();
  }
  return cassette::GrpcJson::FromBytes(
      cassette.grpc_descriptors(),
      absl::StrCat("the descriptors of cassette '", cassette.name(), "'"));
}

// "> {json}" for each request message, "< {json}" for each response one,
// or why they cannot be shown.
std::vector<std::string> GrpcDetails(const cassette::GrpcJson& decoder,
                                     const v1::HttpExchange& http) {
  std::vector<std::string> out;
  const std::string path = MethodPath(http.request());
  for (const bool request : {true, false}) {
    const std::string& body =
        request ? http.request().body() : http.response().body();
    auto messages = decoder.Messages(path, body, request);
    if (!messages.ok()) {
      out.push_back(absl::StrCat("   ", request ? "> " : "< ", "(",
                                 messages.status().message(), ")"));
      continue;
    }
    for (const std::string& m : *messages) {
      out.push_back(absl::StrCat("   ", request ? "> " : "< ", m));
    }
  }
  return out;
}
void AddGrpcMessagesJson(const cassette::GrpcJson& decoder,
                         v1::Cassette& cassette) {
  for (v1::Interaction& it : *cassette.mutable_interactions()) {
    if (!it.has_http() ||
        !core::IsGrpc(cassette::FromProto(it.http().request()))) {
      continue;
    }
    v1::HttpExchange& http = *it.mutable_http();
    const std::string path = MethodPath(http.request());
    auto in = decoder.Messages(path, http.request().body(), true);
    auto out = decoder.Messages(path, http.response().body(), false);
    if (in.ok()) {
      for (std::string& m : *in) {
        http.mutable_request()->add_grpc_messages_json(std::move(m));
      }
    }
    if (out.ok()) {
      for (std::string& m : *out) {
        http.mutable_response()->add_grpc_messages_json(std::move(m));
      }
    }
  }
}

int CliCassetteAddDescriptors(const CassetteCliTarget& target,
                              const std::string& name,
                              const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return ReportCassetteError(
        target, absl::NotFoundError(absl::StrCat("cannot read ", file)));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (auto checked = cassette::GrpcJson::FromBytes(bytes.str(), file);
      !checked.ok()) {
    return ReportCassetteError(target, checked.status());
  }
  auto cassettes = OpenCassettes(target);
  if (!cassettes.ok()) return ReportCassetteError(target, cassettes.status());
  auto c = (*cassettes)->Get(name);
  if (!c.ok()) return ReportCassetteError(target, c.status());
  c->set_grpc_descriptors(bytes.str());
  auto info = (*cassettes)->Put(*c);
  if (!info.ok()) return ReportCassetteError(target, info.status());
  std::printf(
      "matgto: cassette '%s' now has the descriptors of %s: `matgto cassette "
      "show %s` and `export` print its gRPC messages as JSON\n",
      name.c_str(), file.c_str(), name.c_str());
  return 0;
}

}  // namespace matgto::app
