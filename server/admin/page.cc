#include "server/admin/page.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "server/admin/embedded_files.h"

namespace matgto::admin {
namespace {

absl::string_view ContentType(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

const PageFile* FindPageFile(absl::string_view path) {
  using Entry = std::pair<std::string, PageFile>;
  static const std::vector<Entry>* const files = [] {
    auto* out = new std::vector<Entry>;
    for (int i = 0; i < kEmbeddedFileCount; ++i) {
      const EmbeddedFile& f = kEmbeddedFiles[i];
      const std::string name(f.name);
      out->push_back(
          {name == "index.html" ? "/" : "/" + name,
           PageFile{ContentType(name), absl::string_view(f.data, f.size)}});
    }
    return out;
  }();
  for (const Entry& e : *files) {
    if (e.first == path) return &e.second;
  }
  return nullptr;
}

}  // namespace matgto::admin
