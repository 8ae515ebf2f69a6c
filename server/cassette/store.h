// Where cassettes live. The replay engine only sees this interface.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/image.h"
#include "server/cassette/journal.h"
#include "server/cassette/recording.h"

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

// A save that fails but whose recording was kept elsewhere (an object store
// refused it because another recorder saved the cassette first) carries
// this payload, whose value is where the recording was kept: the session
// that recorded it has lost nothing and may end.
inline constexpr absl::string_view kRecordingKeptPayload =
    "type.matgto.dev/matgto.RecordingKept";

// Thread-safety: implementations are safe to call concurrently. Every method
// may block on disk I/O; never call one from a proxy I/O thread.
class CassetteStore {
 public:
  virtual ~CassetteStore() = default;

  // INVALID_ARGUMENT for a bad name (see name.h).
  virtual absl::StatusOr<bool> Exists(absl::string_view name) const = 0;
  // NOT_FOUND when absent, DATA_LOSS when corrupt or truncated.
  virtual absl::StatusOr<v1::Cassette> Load(absl::string_view name) const = 0;
  // The same cassette for replay (see image.h): what a store can map stays
  // mapped. The default parses with Load and keeps the serialized bytes.
  virtual absl::StatusOr<std::unique_ptr<CassetteImage>> LoadImage(
      absl::string_view name) const;
  // Writes atomically: readers see the old cassette or the new one, never a
  // mix, even across a crash. Returns where it was written.
  virtual absl::StatusOr<std::string> Save(const v1::Cassette& cassette) = 0;
  // Saves a recording as Save would (named by its head), reading its
  // interactions as they are written where the store can (a long
  // recording's interactions are never all in memory then). The default
  // builds the whole cassette and calls Save.
  virtual absl::StatusOr<std::string> SaveRecording(Recording& recording);
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
// are moved back into body/payload (see json_codec.h), and carry the name
// they were loaded as (not the one stored inside the file).
//
// Paths are walked one segment at a time from the directory with openat and
// O_NOFOLLOW: a symbolic link inside the cassette directory (a segment or the
// file itself) is refused with PERMISSION_DENIED, so no name reads or writes
// outside it. Cassettes and journals are created with `file_mode` exactly
// (0600 by default: they may hold secrets the redaction rules missed).
class FileCassetteStore final : public CassetteStore {
 public:
  // Creates `dir` when missing. INVALID_ARGUMENT/PERMISSION_DENIED when it
  // cannot be created or is not a directory; INVALID_ARGUMENT for a
  // `file_mode` without owner read and write or beyond 0777.
  static absl::StatusOr<std::unique_ptr<FileCassetteStore>> Create(
      std::string dir, CassetteFormat format = CassetteFormat::kBinary,
      mode_t file_mode = kDefaultFileMode);

  absl::StatusOr<bool> Exists(absl::string_view name) const override;
  absl::StatusOr<v1::Cassette> Load(absl::string_view name) const override;
  // A binary cassette is mapped (a JSON one parsed).
  absl::StatusOr<std::unique_ptr<CassetteImage>> LoadImage(
      absl::string_view name) const override;
  absl::StatusOr<std::string> Save(const v1::Cassette& cassette) override;
  // Binary: streamed, one interaction in memory at a time. JSON: whole.
  absl::StatusOr<std::string> SaveRecording(Recording& recording) override;
  std::string Describe(absl::string_view name) const override;
  // The journal <dir>/<name>.pb.journal, locked while it lives (see
  // journal.h). FAILED_PRECONDITION when another process records `name` or
  // when a journal that was not recovered is in the way (never truncated).
  absl::StatusOr<std::unique_ptr<Journal>> StartJournal(
      absl::string_view name) override;
  absl::StatusOr<std::vector<v1::CassetteInfo>> List(
      absl::string_view prefix) const override;
  absl::Status Delete(absl::string_view name) override;

  // Rebuilds and saves the cassette of every journal left by an interrupted
  // recording (under the name its path gives), then removes the journal.
  // Journals that another process holds (it is still recording) are left
  // alone. Saves go to `into` when given (a store whose journals this
  // directory keeps), else here. Returns one line per journal found.
  std::vector<std::string> RecoverJournals(CassetteStore* into = nullptr);

  const std::string& dir() const { return dir_; }
  CassetteFormat format() const { return format_; }
  mode_t file_mode() const { return file_mode_; }
  std::string JournalPath(absl::string_view name) const;

 private:
  // Journals are binary whatever the format (JournalPath, RecoverJournals).
  static constexpr absl::string_view kJournalExtension = ".pb.journal";

  // Where Locate found a cassette: its directory (an open descriptor the
  // caller closes; -1 when that directory does not exist) and file.
  struct Located {
    int dir_fd = -1;
    std::string leaf;
    std::optional<CassetteFormat> format;
  };

  FileCassetteStore(std::string dir, CassetteFormat format, mode_t file_mode)
      : dir_(std::move(dir)), format_(format), file_mode_(file_mode) {}
  std::string PathFor(absl::string_view name, CassetteFormat format) const;
  std::string PathFor(absl::string_view name) const {
    return PathFor(name, format_);
  }
  // The file that holds `name` (configured format first), or "" when none.
  // For messages only: it follows links.
  std::string ExistingPath(absl::string_view name) const;
  absl::StatusOr<Located> Locate(absl::string_view name) const;
  // Writes cassette `name` atomically: `write` fills a temporary file (fd,
  // and its path for messages), which is fsynced and renamed into place;
  // a file of the other format is then removed. Returns the path.
  absl::StatusOr<std::string> WriteFile(
      const std::string& name,
      absl::FunctionRef<absl::Status(int fd, const std::string& path)> write);
  // One journal of RecoverJournals: the line to report, if any.
  std::optional<std::string> RecoverJournalFile(
      const std::filesystem::path& file, CassetteStore& into);

  const std::string dir_;
  const CassetteFormat format_;
  const mode_t file_mode_;
  // Makes temporary file names unique among concurrent saves.
  std::atomic<uint64_t> tmp_counter_{0};
};

}  // namespace matgto::cassette
