// `matgto cassette ...`: list, show, export (JSON, HAR), import, diff and
// remove cassettes, either on a running server (through the cassette
// management RPCs) or in a local cassette directory (--dir).
#pragma once

#include <string>
#include <vector>

#include "server/app/cassettes.h"
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
// `descriptor_set`: a FileDescriptorSet; gRPC messages are then printed as
// JSON under their row.
int CliCassetteShow(const CassetteCliTarget& target, const std::string& name,
                    const std::string& descriptor_set = "");
// `format` is "json" (the protobuf JSON mapping, as the JSON store writes)
// or "har" (HAR 1.2; WebSocket sessions are left out with a note on
// stderr). `output` empty or "-": stdout. JSON gets each gRPC message as
// JSON too (grpc_messages_json) when the descriptors are known: from
// `descriptor_set`, or the cassette's own.
int CliCassetteExport(const CassetteCliTarget& target, const std::string& name,
                      const std::string& format, const std::string& output,
                      const std::string& descriptor_set = "");
// Stores the FileDescriptorSet `file` in cassette `name` (replacing any it
// had), after checking that it reads.
int CliCassetteAddDescriptors(const CassetteCliTarget& target,
                              const std::string& name, const std::string& file);
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

// `push [NAME...]`: copies the cassettes of directory target.dir (all, or
// those named) to the server; `pull [PREFIX]`: the server's cassettes
// (those starting with PREFIX) into target.dir, created when missing.
// A cassette whose content hash (CassetteInfo.content_sha256) is the same
// on both sides is skipped. Prints one line a cassette and a summary;
// progress of cassettes over 1 MiB goes to stderr when it is a terminal or
// with `progress`. Exit code 0, 1 when any cassette failed, 3 when the
// server cannot be reached.
int CliCassettePush(const CassetteCliTarget& target,
                    const std::vector<std::string>& names, bool progress);
int CliCassettePull(const CassetteCliTarget& target, const std::string& prefix,
                    bool progress);

// The two sides of push/pull, opened as every cassette command opens its
// side: the remote one is what a command without --dir works on (the
// server), the local one is --dir (NOT_FOUND when it does not exist and
// `create` is false).
absl::StatusOr<std::unique_ptr<Cassettes>> OpenRemoteCassettes(
    const CassetteCliTarget& target);
absl::StatusOr<std::unique_ptr<Cassettes>> OpenLocalCassettes(
    const CassetteCliTarget& target, bool create);
// What every other cassette command works on: --dir, --store, or the server
// (NOT_FOUND for a --dir that does not exist, unless `create`).
absl::StatusOr<std::unique_ptr<Cassettes>> OpenCassettes(
    const CassetteCliTarget& target, bool create = false);

// Prints `status` for a cassette command and returns `error_code` (3 when
// the server is out of reach).
int ReportCassetteError(const CassetteCliTarget& target,
                        const absl::Status& status, int error_code = 1);

}  // namespace matgto::app
