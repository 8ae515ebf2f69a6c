// The sides a `matgto cassette` command works on (cassettes.h): a server,
// through the cassette management RPCs, or a store this process opens
// itself (--dir, --store); how a command opens its side (OpenCassettes,
// and push/pull's two), and how it reports their errors.
#include "server/app/cassettes.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "server/app/cassette_cli.h"
#include "server/app/cli.h"
#include "server/app/store_flags.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "server/core/status_macros.h"

namespace matgto::app {
namespace {

namespace fs = std::filesystem;

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

class ServerCassettes final : public Cassettes {
 public:
  explicit ServerCassettes(CliTarget target)
      : target_(std::move(target)), stub_(ConnectControl(target_)) {}

  absl::StatusOr<std::vector<v1::CassetteInfo>> List(
      absl::string_view prefix) override {
    grpc::ClientContext ctx;
    PrepareCall(ctx, target_);
    v1::ListCassettesRequest req;
    req.set_prefix(std::string(prefix));
    v1::ListCassettesResponse res;
    RETURN_IF_ERROR(FromGrpc(stub_->ListCassettes(&ctx, req, &res)));
    return std::vector<v1::CassetteInfo>(res.cassettes().begin(),
                                         res.cassettes().end());
  }

  absl::StatusOr<v1::Cassette> Get(absl::string_view name) override {
    grpc::ClientContext ctx;
    PrepareCall(ctx, target_);
    v1::GetCassetteRequest req;
    req.set_name(std::string(name));
    auto reader = stub_->GetCassette(&ctx, req);
    std::string bytes;
    v1::CassetteChunk chunk;
    while (reader->Read(&chunk)) {
      bytes.append(chunk.data());
      ReportProgress(bytes.size(), 0);
    }
    RETURN_IF_ERROR(FromGrpc(reader->Finish()));
    ASSIGN_OR_RETURN(v1::Cassette cassette,
                     cassette::ParseCassette(
                         bytes, absl::StrCat("'", name, "' from ", Where())));
    cassette::NormalizeTextBodies(cassette);
    return cassette;
  }

  absl::StatusOr<v1::CassetteInfo> Put(const v1::Cassette& cassette) override {
    grpc::ClientContext ctx;
    PrepareCall(ctx, target_);
    v1::PutCassetteResponse res;
    auto writer = stub_->PutCassette(&ctx, &res);
    const std::string bytes = cassette::SerializeCassette(cassette);
    constexpr size_t kChunk = size_t{1} << 20;
    for (size_t offset = 0; offset == 0 || offset < bytes.size();
         offset += kChunk) {
      v1::CassetteChunk chunk;
      if (offset == 0) chunk.set_name(cassette.name());
      chunk.set_data(bytes.substr(offset, kChunk));
      if (!writer->Write(chunk)) break;  // Finish() says why
      ReportProgress(std::min(bytes.size(), offset + kChunk), bytes.size());
    }
    writer->WritesDone();
    RETURN_IF_ERROR(FromGrpc(writer->Finish()));
    return res.cassette();
  }

  absl::Status Delete(absl::string_view name) override {
    grpc::ClientContext ctx;
    PrepareCall(ctx, target_);
    v1::DeleteCassetteRequest req;
    req.set_name(std::string(name));
    v1::DeleteCassetteResponse res;
    return FromGrpc(stub_->DeleteCassette(&ctx, req, &res));
  }

  std::string Where() const override { return "server " + target_.server; }

 private:
  const CliTarget target_;
  std::unique_ptr<v1::ProxyControl::Stub> stub_;
};

// A store this process opens itself: a directory (--dir) or a bucket
// (--store s3://...).
class StoreCassettes final : public Cassettes {
 public:
  // NOT_FOUND when `dir` does not exist and `create` is false.
  static absl::StatusOr<std::unique_ptr<StoreCassettes>> Open(
      const CassetteCliTarget& target, bool create) {
    if (target.store.store.empty()) {
      std::error_code ec;
      if (!create && !fs::is_directory(target.dir, ec)) {
        return absl::NotFoundError(
            absl::StrCat("cassette directory ", target.dir, " does not exist"));
      }
    }
    ASSIGN_OR_RETURN(OpenedStore opened,
                     OpenStore(target.store, target.dir, target.dir_format,
                               cassette::kDefaultFileMode, /*recover=*/false));
    return std::unique_ptr<StoreCassettes>(new StoreCassettes(
        std::move(opened.store), IsObjectStore(target.store)
                                     ? opened.where
                                     : "directory " + opened.where));
  }

  absl::StatusOr<std::vector<v1::CassetteInfo>> List(
      absl::string_view prefix) override {
    return store_->List(prefix);
  }
  absl::StatusOr<v1::Cassette> Get(absl::string_view name) override {
    return store_->Load(name);
  }
  absl::StatusOr<v1::CassetteInfo> Put(const v1::Cassette& cassette) override {
    // A put replaces what is there now: looking first makes an object
    // store's save conditional on that (not on nothing).
    RETURN_IF_ERROR(store_->Exists(cassette.name()).status());
    RETURN_IF_ERROR(store_->Save(cassette).status());
    ASSIGN_OR_RETURN(auto list, store_->List(cassette.name()));
    for (v1::CassetteInfo& info : list) {
      if (info.name() == cassette.name()) return info;
    }
    return absl::InternalError(absl::StrCat(
        "cassette '", cassette.name(), "' was saved but cannot be listed"));
  }
  absl::Status Delete(absl::string_view name) override {
    return store_->Delete(name);
  }
  std::string Where() const override { return where_; }

 private:
  StoreCassettes(std::unique_ptr<cassette::CassetteStore> store,
                 std::string where)
      : store_(std::move(store)), where_(std::move(where)) {}
  std::unique_ptr<cassette::CassetteStore> store_;
  const std::string where_;
};

bool OnServer(const CassetteCliTarget& target) {
  return target.dir.empty() && target.store.store.empty();
}

absl::StatusOr<std::unique_ptr<Cassettes>> Open(const CassetteCliTarget& target,
                                                bool create_dir = false) {
  if (OnServer(target)) {
    return std::unique_ptr<Cassettes>(new ServerCassettes(target.server));
  }
  ASSIGN_OR_RETURN(auto local, StoreCassettes::Open(target, create_dir));
  return std::unique_ptr<Cassettes>(std::move(local));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Cassettes>> OpenRemoteCassettes(
    const CassetteCliTarget& target) {
  // The server, or the bucket of --store.
  CassetteCliTarget remote = target;
  remote.dir.clear();
  return Open(remote);
}

absl::StatusOr<std::unique_ptr<Cassettes>> OpenLocalCassettes(
    const CassetteCliTarget& target, bool create) {
  // --dir only: a --store is the remote side (see OpenRemoteCassettes).
  CassetteCliTarget local = target;
  local.store = {};
  return Open(local, create);
}

absl::StatusOr<std::unique_ptr<Cassettes>> OpenCassettes(
    const CassetteCliTarget& target, bool create) {
  return Open(target, create);
}

int ReportCassetteError(const CassetteCliTarget& target,
                        const absl::Status& status, int error_code) {
  if (OnServer(target) && ServerOutOfReach(static_cast<int>(status.code()),
                                           std::string(status.message()))) {
    std::fprintf(
        stderr,
        "matgto: cannot reach the matgto server at %s (%s): %s; or "
        "use --dir DIR for local cassettes.\n",
        target.server.server.c_str(), std::string(status.message()).c_str(),
        CallErrorHint(target.server, grpc::StatusCode::UNAVAILABLE).c_str());
    return 3;
  }
  std::fprintf(stderr, "matgto: %s: %s\n",
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  if (const std::string hint = CallErrorHint(
          target.server, static_cast<grpc::StatusCode>(status.code()));
      OnServer(target) && !hint.empty()) {
    std::fprintf(stderr, "matgto: %s\n", hint.c_str());
  }
  return error_code;
}

}  // namespace matgto::app
