// Where cassettes live. The replay engine only sees this interface.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/journal.h"

namespace matgto::cassette {

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
};

// One file per cassette: <dir>/<name>.pb (name may contain '/' segments,
// which become subdirectories). Writes go to a temporary file in the same
// directory, are fsynced, renamed over the target, and the directory is
// fsynced.
class FileCassetteStore final : public CassetteStore {
 public:
  // Creates `dir` when missing. INVALID_ARGUMENT/PERMISSION_DENIED when it
  // cannot be created or is not a directory.
  static absl::StatusOr<std::unique_ptr<FileCassetteStore>> Create(
      std::string dir);

  absl::StatusOr<bool> Exists(absl::string_view name) const override;
  absl::StatusOr<v1::Cassette> Load(absl::string_view name) const override;
  absl::StatusOr<std::string> Save(const v1::Cassette& cassette) override;
  std::string Describe(absl::string_view name) const override;
  absl::StatusOr<std::unique_ptr<Journal>> StartJournal(
      absl::string_view name) override;

  // Rebuilds and saves the cassette of every journal left by an interrupted
  // recording, then removes the journal. Returns one line per journal found.
  std::vector<std::string> RecoverJournals();

  const std::string& dir() const { return dir_; }

 private:
  explicit FileCassetteStore(std::string dir) : dir_(std::move(dir)) {}
  std::string PathFor(absl::string_view name) const;

  const std::string dir_;
  // Makes temporary file names unique among concurrent saves.
  std::atomic<uint64_t> tmp_counter_{0};
};

}  // namespace matgto::cassette
