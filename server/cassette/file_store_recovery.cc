// FileCassetteStore::RecoverJournals: the cassettes of recordings that a
// crash or a kill interrupted, rebuilt from their journals at start.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/cassette/journal.h"
#include "server/cassette/name.h"
#include "server/cassette/posix_file.h"
#include "server/cassette/recording.h"
#include "server/cassette/spooled.h"
#include "server/cassette/store.h"

namespace matgto::cassette {

namespace fs = std::filesystem;

std::vector<std::string> FileCassetteStore::RecoverJournals(
    CassetteStore* into) {
  std::vector<std::string> report;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() != fs::file_type::regular ||
        !absl::EndsWith(path, kJournalExtension)) {
      continue;
    }
    if (std::optional<std::string> line =
            RecoverJournalFile(it->path(), into != nullptr ? *into : *this)) {
      report.push_back(*std::move(line));
    }
  }
  return report;
}

std::optional<std::string> FileCassetteStore::RecoverJournalFile(
    const fs::path& file, CassetteStore& into) {
  const std::string path = file.string();
  // The journal belongs to the cassette its path names (a journal copied or
  // renamed is recovered under its new name).
  std::string name = file.lexically_relative(dir_).generic_string();
  name.resize(name.size() - kJournalExtension.size());
  if (!ValidateCassetteName(name).ok()) {
    return absl::StrCat("cannot recover ", path,
                        ": its name is not a cassette name (left in place)");
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;  // removed meanwhile
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::StrCat("journal ", path,
                        " is live (another process, such as a matgto server "
                        "on this cassette directory, records '",
                        name, "'); left alone");
  }
  // Locked; the recording that held it may have ended and removed it.
  struct stat opened {};
  struct stat named {};
  if (::fstat(fd.get(), &opened) != 0 || ::lstat(path.c_str(), &named) != 0 ||
      opened.st_ino != named.st_ino || opened.st_dev != named.st_dev) {
    return std::nullopt;
  }
  if (opened.st_size == 0) {
    // A recording that never wrote its first entry: nothing to recover.
    ::unlink(path.c_str());
    return std::nullopt;
  }
  // Read back one interaction at a time as it is saved: a long recording
  // is never whole in memory.
  const int read_fd = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
  absl::StatusOr<Recording> recording =
      read_fd >= 0 ? ReadJournal(read_fd, path, /*resolve_bodies=*/true)
                   : ErrnoStatus("cannot read", path);
  if (!recording.ok()) {
    return absl::StrCat("cannot recover ", path, ": ",
                        recording.status().message(),
                        " (left in place; recording '", name,
                        "' is refused until it is moved away)");
  }
  recording->head().set_name(name);
  absl::StatusOr<std::string> saved = into.SaveRecording(*recording);
  const std::vector<std::string> dropped = recording->Dropped();
  if (!saved.ok() &&
      saved.status().GetPayload(kRecordingKeptPayload).has_value()) {
    // Refused (someone saved the cassette meanwhile) but kept elsewhere.
    ::unlink(path.c_str());
    RemoveBodyFiles(file.parent_path(), file.filename().string());
    return absl::StrCat("recovered cassette '", name, "' from ", path,
                        " but did not save it: ", saved.status().message());
  }
  if (!saved.ok()) {
    return absl::StrCat("cannot save the recovery of ", path, ": ",
                        saved.status().message(), " (left in place)");
  }
  ::unlink(path.c_str());
  RemoveBodyFiles(file.parent_path(), file.filename().string());
  return absl::StrCat(
      "recovered cassette '", name, "' (", recording->interactions(),
      " interactions) from an interrupted recording",
      dropped.empty() ? "" : absl::StrCat("; ", absl::StrJoin(dropped, "; ")));
}

}  // namespace matgto::cassette
