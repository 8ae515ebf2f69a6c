// `matgto cassette ...`: list, show, export (JSON, HAR), import, diff and
// remove cassettes, either on a running server (through the cassette
// management RPCs) or in a local cassette directory (--dir).
#pragma once

#include <string>

#include "server/app/cli.h"
#include "server/app/store_flags.h"
#include "server/cassette/store.h"

namespace matgto::app {

struct CassetteCliTarget {
  // Used when `dir` and `store` are empty.
  CliTarget server;
  // A local cassette directory instead of the server.
  std::string dir;
  // --store: a bucket (s3://BUCKET/PREFIX) or directory instead of the
  // server.
  StoreChoice store;
  // How `import` writes into `dir`.
  cassette::CassetteFormat dir_format = cassette::CassetteFormat::kBinary;
};

// Each returns the process exit code: 0 on success, 1 on an error (the
// server's or the file system's), 3 when the server cannot be reached.
int CliCassetteList(const CassetteCliTarget& target, const std::string& prefix);
int CliCassetteShow(const CassetteCliTarget& target, const std::string& name);
// `format` is "json" (the protobuf JSON mapping, as the JSON store writes)
// or "har" (HAR 1.2; WebSocket sessions are left out with a note on
// stderr). `output` empty or "-": stdout.
int CliCassetteExport(const CassetteCliTarget& target, const std::string& name,
                      const std::string& format, const std::string& output);
// `file` holds a protobuf JSON cassette, a HAR 1.2 document or a binary
// cassette (told apart by content). The name is `name`, else the
// cassette's own (JSON, binary), else the file name without its extension.
int CliCassetteImport(const CassetteCliTarget& target, const std::string& file,
                      const std::string& name);
// Exit code 0 when identical, 1 when different, 2 on an error (3 when the
// server cannot be reached), like diff(1).
int CliCassetteDiff(const CassetteCliTarget& target, const std::string& a,
                    const std::string& b);
int CliCassetteRemove(const CassetteCliTarget& target, const std::string& name);

}  // namespace matgto::app
