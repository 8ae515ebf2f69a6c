// Where cassettes live. The replay engine only sees this interface.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/journal.h"

namespace matgto::cassette {

// How a FileCassetteStore writes cassettes. Loading accepts both.
enum class CassetteFormat {
  // <name>.pb: a binary matgto.v1.Cassette (the default).
  kBinary,
  // <name>.json: the protobuf JSON mapping (see json_codec.h), for cassettes
  // that read well in code review.
  kJson,
};

// "binary" / "json", as in CassetteInfo.format and --cassette-format.
absl::string_view CassetteFormatName(CassetteFormat format);
// Inverse of CassetteFormatName; false for anything else.
bool ParseCassetteFormat(absl::string_view text, CassetteFormat* format);

// Thread-safety: implementations are safe to call concurrently. Every method
// may block on disk I/O; never call one from a proxy I/O thread.
class CassetteStore {
 public:
  virtual ~CassetteStore() = default;

  // INVALID_ARGUMENT for a bad name (see name.h).
  virtual absl::StatusOr<bool> Exists(absl::string_view name) const = 0;
  // NOT_FOUND when absent, DATA_LOSS when corrupt or truncated.
  virtual absl::StatusOr<v1::Cassette> Load(absl::string_view name) const = 0;
  // Writes atomically: readers see the old cassette or the new one, never a
  // mix, even across a crash. Returns where it was written.
  virtual absl::StatusOr<std::string> Save(const v1::Cassette& cassette) = 0;
  // Where `name` is (or would be) stored, for messages.
  virtual std::string Describe(absl::string_view name) const = 0;
  // A journal for a recording of `name` in progress (see journal.h), or
  // nullptr when this store keeps none.
  virtual absl::StatusOr<std::unique_ptr<Journal>> StartJournal(
      absl::string_view name) {
    return std::unique_ptr<Journal>();
  }
  // The cassettes whose names start with `prefix` (every one for ""),
  // sorted by name. Called by the control API and the CLI; reads every
  // cassette to count its interactions. The default (for stores that cannot
  // enumerate) is UNIMPLEMENTED.
  virtual absl::StatusOr<std::vector<v1::CassetteInfo>> List(
      absl::string_view prefix) const {
    return absl::UnimplementedError(
        "this cassette store cannot list cassettes");
  }
  // Removes cassette `name`. NOT_FOUND when it does not exist,
  // INVALID_ARGUMENT for a bad name. Whether the cassette is in use is the
  // caller's business. The default is UNIMPLEMENTED.
  virtual absl::Status Delete(absl::string_view name) {
    return absl::UnimplementedError(
        "this cassette store cannot delete cassettes");
  }
};

// One file per cassette: <dir>/<name>.pb, or <dir>/<name>.json with
// CassetteFormat::kJson (name may contain '/' segments, which become
// subdirectories). Writes go to a temporary file in the same directory, are
// fsynced, renamed over the target, and the directory is fsynced; a file of
// the other format for the same name is then removed, so each cassette has
// one file. Loads read either format: when both files exist the configured
// format wins. Loaded cassettes never carry body_text/payload_text: those
// are moved back into body/payload (see json_codec.h).
class FileCassetteStore final : public CassetteStore {
 public:
  // Creates `dir` when missing. INVALID_ARGUMENT/PERMISSION_DENIED when it
  // cannot be created or is not a directory.
  static absl::StatusOr<std::unique_ptr<FileCassetteStore>> Create(
      std::string dir, CassetteFormat format = CassetteFormat::kBinary);

  absl::StatusOr<bool> Exists(absl::string_view name) const override;
  absl::StatusOr<v1::Cassette> Load(absl::string_view name) const override;
  absl::StatusOr<std::string> Save(const v1::Cassette& cassette) override;
  std::string Describe(absl::string_view name) const override;
  absl::StatusOr<std::unique_ptr<Journal>> StartJournal(
      absl::string_view name) override;
  absl::StatusOr<std::vector<v1::CassetteInfo>> List(
      absl::string_view prefix) const override;
  absl::Status Delete(absl::string_view name) override;

  // Rebuilds and saves the cassette of every journal left by an interrupted
  // recording, then removes the journal. Returns one line per journal found.
  std::vector<std::string> RecoverJournals();

  const std::string& dir() const { return dir_; }
  CassetteFormat format() const { return format_; }

 private:
  FileCassetteStore(std::string dir, CassetteFormat format)
      : dir_(std::move(dir)), format_(format) {}
  std::string PathFor(absl::string_view name, CassetteFormat format) const;
  std::string PathFor(absl::string_view name) const {
    return PathFor(name, format_);
  }
  // The file that holds `name` (configured format first), or "" when none.
  std::string ExistingPath(absl::string_view name) const;

  const std::string dir_;
  const CassetteFormat format_;
  // Makes temporary file names unique among concurrent saves.
  std::atomic<uint64_t> tmp_counter_{0};
};

}  // namespace matgto::cassette
