// `matgto cassette export`, `import`, `diff` and `rm`: a cassette written
// out as JSON or HAR, read in from either (or a binary cassette), two
// cassettes compared, one removed. `ls` and `show` are cassette_show.cc,
// `push` and `pull` cassette_sync.cc, `add-descriptors` grpc_cli.cc; the
// sides they work on, cassettes.cc.
#include "server/app/cassette_cli.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "server/app/cassettes.h"
#include "server/app/grpc_cli.h"
#include "server/cassette/codec.h"
#include "server/cassette/diff.h"
#include "server/cassette/har.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/name.h"
#include "server/core/status_macros.h"

namespace matgto::app {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

int Report(const CassetteCliTarget& target, const absl::Status& status,
           int error_code = 1) {
  return ReportCassetteError(target, status, error_code);
}

void PrintNotes(const std::vector<std::string>& notes) {
  for (const std::string& note : notes) {
    std::fprintf(stderr, "matgto: note: %s\n", note.c_str());
  }
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

int CliCassetteExport(const CassetteCliTarget& target, const std::string& name,
                      const std::string& format, const std::string& output,
                      const std::string& descriptor_set) {
  auto cassettes = OpenCassettes(target);
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
  auto cassettes = OpenCassettes(target, /*create=*/true);
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
  auto cassettes = OpenCassettes(target);
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
  auto cassettes = OpenCassettes(target);
  if (!cassettes.ok()) return Report(target, cassettes.status());
  if (absl::Status st = (*cassettes)->Delete(name); !st.ok()) {
    return Report(target, st);
  }
  std::printf("matgto: removed cassette '%s' from %s\n", name.c_str(),
              (*cassettes)->Where().c_str());
  return 0;
}

}  // namespace matgto::app
