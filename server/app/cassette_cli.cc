#include "server/app/cassette_cli.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "server/app/cassettes.h"
#include "server/app/grpc_cli.h"
#include "server/cassette/codec.h"
#include "server/cassette/diff.h"
#include "server/cassette/grpc_json.h"
#include "server/cassette/har.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/name.h"
#include "server/core/grpc.h"
#include "server/core/status_macros.h"
#include "server/core/url.h"

namespace matgto::app {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

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
    const CassetteCliTarget& target) {
  return Open(target);
}

namespace {}  // namespace

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

namespace {

int Report(const CassetteCliTarget& target, const absl::Status& status,
           int error_code = 1) {
  return ReportCassetteError(target, status, error_code);
}

void PrintNotes(const std::vector<std::string>& notes) {
  for (const std::string& note : notes) {
    std::fprintf(stderr, "matgto: note: %s\n", note.c_str());
  }
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  google::protobuf::Timestamp seconds;
  seconds.set_seconds(t.seconds());
  return TimeUtil::ToString(seconds);
}

std::string FormatDuration(const google::protobuf::Duration& d) {
  const absl::Duration duration =
      absl::Nanoseconds(TimeUtil::DurationToNanoseconds(d));
  if (duration == absl::ZeroDuration()) return "-";
  return absl::FormatDuration(absl::Trunc(duration, absl::Microseconds(1)));
}

std::string Status(const v1::HttpResponse& res) {
  return res.status() == 0 ? std::string("-") : absl::StrCat(res.status());
}

// One row of `show`: index, kind, method, URL, status, request body bytes,
// response body bytes, time; then free text.
struct Row {
  std::array<std::string, 8> cells;
  std::string extra;
  // Lines printed under the row (gRPC messages as JSON).
  std::vector<std::string> details{};
};

std::string WsSummary(const v1::WebSocketSession& ws) {
  int client = 0, server = 0, text = 0, binary = 0, control = 0;
  for (const v1::WsMessage& m : ws.messages()) {
    (m.direction() == v1::CLIENT_TO_SERVER ? client : server)++;
    if (m.kind() == v1::WS_TEXT) {
      ++text;
    } else if (m.kind() == v1::WS_BINARY) {
      ++binary;
    } else {
      ++control;
    }
  }
  std::string out = absl::StrCat(ws.messages_size(), " messages (", client,
                                 " from client, ", server, " from server; ",
                                 text, " text, ", binary, " binary");
  if (control > 0) absl::StrAppend(&out, ", ", control, " ping/pong");
  absl::StrAppend(&out, ")");
  if (ws.has_close()) {
    absl::StrAppend(&out, ", close ", ws.close().code());
    if (!ws.close().reason().empty()) {
      absl::StrAppend(&out, " '", ws.close().reason(), "'");
    }
    absl::StrAppend(&out, " by ",
                    ws.close().initiator() == v1::CLIENT_TO_SERVER   ? "client"
                    : ws.close().initiator() == v1::SERVER_TO_CLIENT ? "server"
                                                                     : "?");
  } else {
    absl::StrAppend(&out, ", no close");
  }
  return out;
}

// "1 message (5 B)", "3 messages (3, 3, 3 B)", or why the body does not
// split into gRPC messages.
std::string GrpcMessages(absl::string_view body) {
  absl::StatusOr<std::vector<core::GrpcMessage>> messages =
      core::SplitGrpcMessages(body);
  if (!messages.ok()) return std::string(messages.status().message());
  std::vector<size_t> sizes;
  for (const core::GrpcMessage& m : *messages) sizes.push_back(m.data.size());
  return absl::StrCat(sizes.size(),
                      sizes.size() == 1 ? " message" : " messages",
                      sizes.empty() ? "" : " (", absl::StrJoin(sizes, ", "),
                      sizes.empty() ? "" : " B)");
}

// A gRPC call: service/method, its messages each way, its status.
std::string GrpcSummary(const core::HttpRequest& request,
                        const core::HttpResponse& response) {
  std::string method = request.url;
  if (auto parts = core::ParseAbsoluteUrl(request.url); parts.ok()) {
    method = parts->path.size() > 1 ? parts->path.substr(1) : parts->path;
  }
  const core::GrpcStatus status = core::GrpcStatusOf(response);
  std::string out = absl::StrCat(method, ": sent ", GrpcMessages(request.body),
                                 ", got ", GrpcMessages(response.body));
  if (status.code < 0) {
    absl::StrAppend(&out, ", no grpc-status");
  } else {
    absl::StrAppend(&out, ", ", core::GrpcCodeName(status.code));
    if (!status.message.empty()) {
      absl::StrAppend(&out, " \"", status.message, "\"");
    }
  }
  return out;
}

Row RowFor(const v1::Interaction& it) {
  if (it.has_websocket()) {
    const v1::WebSocketSession& ws = it.websocket();
    return Row{
        {absl::StrCat(it.index()), "ws", ws.upgrade_request().method(),
         ws.upgrade_request().url(), Status(ws.upgrade_response()), "-", "-",
         FormatDuration(ws.has_close() ? ws.close().since_open()
                                       : ws.timing().total())},
        WsSummary(ws)};
  }
  const v1::HttpExchange& http = it.http();
  const core::HttpRequest request = cassette::FromProto(http.request());
  const bool grpc = core::IsGrpc(request);
  const char* kind = grpc                                         ? "grpc"
                     : http.response().http_version() == "HTTP/2" ? "h2"
                                                                  : "http";
  return Row{
      {absl::StrCat(it.index()), kind, http.request().method(),
       http.request().url(), Status(http.response()),
       absl::StrCat(http.request().body().size()),
       absl::StrCat(http.response().body().size()),
       FormatDuration(http.timing().total())},
      grpc ? GrpcSummary(request, cassette::FromProto(http.response())) : ""};
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", path));
  return bytes.str();
}

absl::Status WriteOutput(const std::string& output, absl::string_view text) {
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
    return std::fflush(stdout) == 0
               ? absl::OkStatus()
               : absl::InternalError("cannot write to stdout");
  }
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  out << text;
  if (!text.empty() && text.back() != '\n') out << '\n';
  if (!out.flush())
    return absl::InternalError(absl::StrCat("cannot write ", output));
  return absl::OkStatus();
}

// What `import` read from a file.
struct Imported {
  v1::Cassette cassette;
  std::string kind;  // "HAR", "JSON cassette", "binary cassette"
  std::vector<std::string> notes;
};

absl::StatusOr<Imported> ReadImport(const std::string& file,
                                    const std::string& name) {
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(file));
  const std::string stem = fs::path(file).stem().string();
  Imported out;
  if (cassette::LooksLikeJson(bytes) && cassette::LooksLikeHar(bytes)) {
    ASSIGN_OR_RETURN(
        cassette::HarImport har,
        cassette::CassetteFromHar(bytes, name.empty() ? stem : name));
    out.cassette = std::move(har.cassette);
    out.notes = std::move(har.notes);
    out.kind = "HAR";
    const auto now = TimeUtil::GetCurrentTime();
    *out.cassette.mutable_created_at() = now;
    *out.cassette.mutable_updated_at() = now;
  } else {
    absl::StatusOr<v1::Cassette> parsed =
        cassette::LooksLikeJson(bytes)
            ? cassette::ParseCassetteJson(bytes, file)
            : cassette::ParseCassette(bytes, file);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, " is neither a HAR 1.2 document nor a matgto cassette: ",
          parsed.status().message()));
    }
    out.cassette = *std::move(parsed);
    cassette::NormalizeTextBodies(out.cassette);
    out.kind =
        cassette::LooksLikeJson(bytes) ? "JSON cassette" : "binary cassette";
    if (!name.empty()) {
      out.cassette.set_name(name);
    } else if (out.cassette.name().empty()) {
      out.cassette.set_name(stem);
    }
  }
  RETURN_IF_ERROR(cassette::ValidateCassetteName(out.cassette.name()));
  return out;
}

}  // namespace

int CliCassetteList(const CassetteCliTarget& target,
                    const std::string& prefix) {
  auto cassettes = Open(target);
  if (!cassettes.ok()) return Report(target, cassettes.status());
  auto list = (*cassettes)->List(prefix);
  if (!list.ok()) return Report(target, list.status());
  if (list->empty()) {
    std::printf("no cassettes%s in %s\n",
                prefix.empty()
                    ? ""
                    : absl::StrCat(" starting with '", prefix, "'").c_str(),
                (*cassettes)->Where().c_str());
    return 0;
  }
  size_t width = 4;
  for (const v1::CassetteInfo& c : *list)
    width = std::max(width, c.name().size());
  std::printf("%-*s  %12s  %10s  %-6s  %s\n", static_cast<int>(width), "NAME",
              "INTERACTIONS", "BYTES", "FORMAT", "UPDATED");
  for (const v1::CassetteInfo& c : *list) {
    std::printf("%-*s  %12llu  %10llu  %-6s  %s\n", static_cast<int>(width),
                c.name().c_str(),
                static_cast<unsigned long long>(c.interactions()),
                static_cast<unsigned long long>(c.size_bytes()),
                c.format().c_str(), FormatTime(c.updated_at()).c_str());
  }
  return 0;
}

int CliCassetteShow(const CassetteCliTarget& target, const std::string& name,
                    const std::string& descriptor_set) {
  auto cassettes = Open(target);
  if (!cassettes.ok()) return Report(target, cassettes.status());
  auto c = (*cassettes)->Get(name);
  if (!c.ok()) return Report(target, c.status());
  auto decoder = GrpcDecoderFor(*c, descriptor_set);
  if (!decoder.ok()) return Report(target, decoder.status());
  std::printf("cassette     %s (schema %u, written by %s)\n", c->name().c_str(),
              c->schema_version(),
              c->written_by().empty() ? "?" : c->written_by().c_str());
  std::printf("created      %s\nupdated      %s\n",
              FormatTime(c->created_at()).c_str(),
              FormatTime(c->updated_at()).c_str());
  std::printf("interactions %d\n", c->interactions_size());
  if (c->interactions_size() == 0) return 0;

  const Row header{{"#", "KIND", "METHOD", "URL", "STATUS", "REQ BYTES",
                    "RESP BYTES", "TIME"},
                   ""};
  std::vector<Row> rows;
  for (const v1::Interaction& it : c->interactions()) {
    rows.push_back(RowFor(it));
    if (*decoder != nullptr && rows.back().cells[1] == "grpc") {
      rows.back().details = GrpcDetails(**decoder, it.http());
    }
  }
  std::array<size_t, 8> width{};
  auto measure = [&width](const Row& r) {
    for (size_t i = 0; i < width.size(); ++i) {
      width[i] = std::max(width[i], r.cells[i].size());
    }
  };
  measure(header);
  for (const Row& r : rows) measure(r);
  // Numbers right-aligned, text left-aligned.
  constexpr std::array<bool, 8> kRight = {true, false, false, false,
                                          true, true,  true,  true};
  auto print = [&](const Row& r) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string& cell = r.cells[i];
      const std::string pad(width[i] - cell.size(), ' ');
      absl::StrAppend(&line, i == 0 ? "" : "  ", kRight[i] ? pad : "", cell,
                      kRight[i] ? "" : pad);
    }
    if (!r.extra.empty()) absl::StrAppend(&line, "  ", r.extra);
    line.erase(line.find_last_not_of(' ') + 1);  // no trailing blanks
    std::printf("%s\n", line.c_str());
    for (const std::string& d : r.details) std::printf("%s\n", d.c_str());
  };
  std::printf("\n");
  print(header);
  for (const Row& r : rows) print(r);
  return 0;
}

int CliCassetteExport(const CassetteCliTarget& target, const std::string& name,
                      const std::string& format, const std::string& output,
                      const std::string& descriptor_set) {
  auto cassettes = Open(target);
  if (!cassettes.ok()) return Report(target, cassettes.status());
  auto c = (*cassettes)->Get(name);
  if (!c.ok()) return Report(target, c.status());
  auto decoder = GrpcDecoderFor(*c, descriptor_set);
  if (!decoder.ok()) return Report(target, decoder.status());
  if (*decoder != nullptr) AddGrpcMessagesJson(**decoder, *c);
  std::string text;
  if (format == "har") {
    auto har = cassette::CassetteToHar(*c, MATGTO_VERSION);
    if (!har.ok()) return Report(target, har.status());
    PrintNotes(har->notes);
    text = std::move(har->json);
  } else {
    auto json = cassette::CassetteToJson(*c);
    if (!json.ok()) return Report(target, json.status());
    text = *std::move(json);
  }
  if (absl::Status st = WriteOutput(output, text); !st.ok()) {
    return Report(target, st);
  }
  if (!output.empty() && output != "-") {
    std::fprintf(
        stderr,
        "matgto: exported cassette '%s' (%d interactions) as %s to %s\n",
        name.c_str(), c->interactions_size(), format.c_str(), output.c_str());
  }
  return 0;
}

int CliCassetteImport(const CassetteCliTarget& target, const std::string& file,
                      const std::string& name) {
  auto imported = ReadImport(file, name);
  if (!imported.ok()) return Report(target, imported.status());
  PrintNotes(imported->notes);
  auto cassettes = Open(target, /*create_dir=*/true);
  if (!cassettes.ok()) return Report(target, cassettes.status());
  auto info = (*cassettes)->Put(imported->cassette);
  if (!info.ok()) return Report(target, info.status());
  std::printf(
      "matgto: imported %s %s as cassette '%s' (%llu interactions) into %s\n",
      imported->kind.c_str(), file.c_str(), info->name().c_str(),
      static_cast<unsigned long long>(info->interactions()),
      (*cassettes)->Where().c_str());
  return 0;
}

int CliCassetteDiff(const CassetteCliTarget& target, const std::string& a,
                    const std::string& b) {
  constexpr int kTrouble = 2;
  auto cassettes = Open(target);
  if (!cassettes.ok()) return Report(target, cassettes.status(), kTrouble);
  auto ca = (*cassettes)->Get(a);
  if (!ca.ok()) return Report(target, ca.status(), kTrouble);
  auto cb = (*cassettes)->Get(b);
  if (!cb.ok()) return Report(target, cb.status(), kTrouble);
  const cassette::CassetteDiff diff = cassette::DiffCassettes(*ca, *cb);
  if (diff.identical()) {
    std::printf("cassettes '%s' and '%s' have the same %d interactions\n",
                a.c_str(), b.c_str(), ca->interactions_size());
    return 0;
  }
  std::printf("--- %s (%d interactions)\n+++ %s (%d interactions)\n", a.c_str(),
              ca->interactions_size(), b.c_str(), cb->interactions_size());
  int added = 0, removed = 0, changed = 0;
  using Kind = cassette::InteractionChange::Kind;
  for (const cassette::InteractionChange& ch : diff.changes) {
    switch (ch.kind) {
      case Kind::kRemoved:
        ++removed;
        std::printf("- #%lld %s\n", static_cast<long long>(ch.index_a),
                    ch.label.c_str());
        break;
      case Kind::kAdded:
        ++added;
        std::printf("+ #%lld %s\n", static_cast<long long>(ch.index_b),
                    ch.label.c_str());
        break;
      case Kind::kChanged:
        ++changed;
        std::printf("~ #%lld -> #%lld %s\n", static_cast<long long>(ch.index_a),
                    static_cast<long long>(ch.index_b), ch.label.c_str());
        for (const std::string& d : ch.differences)
          std::printf("    %s\n", d.c_str());
        break;
    }
  }
  std::printf("%d changed, %d removed, %d added, %d unchanged\n", changed,
              removed, added, diff.unchanged);
  return 1;
}

int CliCassetteRemove(const CassetteCliTarget& target,
                      const std::string& name) {
  auto cassettes = Open(target);
  if (!cassettes.ok()) return Report(target, cassettes.status());
  if (absl::Status st = (*cassettes)->Delete(name); !st.ok()) {
    return Report(target, st);
  }
  std::printf("matgto: removed cassette '%s' from %s\n", name.c_str(),
              (*cassettes)->Where().c_str());
  return 0;
}

}  // namespace matgto::app
