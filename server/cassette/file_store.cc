#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/name.h"
#include "server/cassette/posix_file.h"
#include "server/cassette/spooled.h"
#include "server/cassette/store.h"
#include "server/core/status_macros.h"

namespace matgto::cassette {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kBinaryExtension = ".pb";
constexpr absl::string_view kJsonExtension = ".json";

absl::string_view Extension(CassetteFormat format) {
  return format == CassetteFormat::kJson ? kJsonExtension : kBinaryExtension;
}

CassetteFormat Other(CassetteFormat format) {
  return format == CassetteFormat::kJson ? CassetteFormat::kBinary
                                         : CassetteFormat::kJson;
}

absl::StatusOr<std::string> ReadFd(int fd, const std::string& path) {
  // Refused before it is read into memory (see FitsOneMessage).
  struct stat st {};
  if (::fstat(fd, &st) == 0) {
    RETURN_IF_ERROR(FitsOneMessage(static_cast<uint64_t>(st.st_size), path));
  }
  std::string bytes;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read cassette file", path);
    if (n == 0) return bytes;
    bytes.append(buf, static_cast<size_t>(n));
  }
}

absl::Status SymlinkRefused(const std::string& root, absl::string_view name,
                            const std::string& link) {
  return absl::PermissionDeniedError(absl::StrCat(
      "cassette '", name, "': ", link,
      " is a symbolic link; matgto does not follow links inside the cassette "
      "directory ",
      root,
      " (one could lead a recording outside it). Make it a real directory "
      "or file, or point --cassette-dir at the link's target"));
}

// The located cassette file `leaf` of `dir_fd`, opened for reading without
// following a symlink (refused, naming it).
absl::StatusOr<Fd> OpenCassetteFile(int dir_fd, const std::string& leaf,
                                    const std::string& root,
                                    absl::string_view name,
                                    const std::string& path) {
  Fd fd(::openat(dir_fd, leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ELOOP) return SymlinkRefused(root, name, path);
    return ErrnoStatus("cannot open cassette file", path);
  }
  return fd;
}

// Opens the directory that holds cassette `name` inside `root`, one segment
// at a time and never following a symbolic link (openat + O_NOFOLLOW, so a
// link swapped in meanwhile cannot redirect the walk); with `create`,
// missing directories are made. Sets `base` to the last segment (the file
// name without extension). NOT_FOUND for a missing directory without
// `create`; PERMISSION_DENIED for a link; INVALID_ARGUMENT for a file where
// a directory should be.
absl::StatusOr<Fd> OpenParent(const std::string& root, absl::string_view name,
                              bool create, std::string& base) {
  Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return ErrnoStatus("cannot open cassette directory", root);
  std::vector<absl::string_view> segments = absl::StrSplit(name, '/');
  base = std::string(segments.back());
  segments.pop_back();
  std::string walked = root;
  for (absl::string_view segment : segments) {
    const std::string seg(segment);
    walked = absl::StrCat(walked, "/", seg);
    int next = -1;
    for (int attempt = 0; attempt < 2; ++attempt) {
      next = ::openat(dir.get(), seg.c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next >= 0 || errno != ENOENT || !create) break;
      if (::mkdirat(dir.get(), seg.c_str(), 0777) != 0 && errno != EEXIST) {
        return ErrnoStatus("cannot create directory", walked);
      }
    }
    if (next < 0) {
      const int err = errno;
      struct stat st {};
      if (::fstatat(dir.get(), seg.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) return SymlinkRefused(root, name, walked);
        if (!S_ISDIR(st.st_mode)) {
          return absl::InvalidArgumentError(
              absl::StrCat("cassette '", name, "': ", walked,
                           " is a file, not a directory"));
        }
      }
      errno = err;
      return ErrnoStatus("cannot open directory", walked);
    }
    dir.reset(next);
  }
  return dir;
}

// Parses a cassette file by its extension; body_text is normalized away.
absl::StatusOr<v1::Cassette> ParseFile(const std::string& path,
                                       absl::string_view bytes) {
  if (absl::EndsWith(path, kJsonExtension))
    return ParseCassetteJson(bytes, path);
  auto cassette = ParseCassette(bytes, path);
  if (cassette.ok()) NormalizeTextBodies(*cassette);
  return cassette;
}

google::protobuf::Timestamp MTime(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
      st.st_mtim.tv_nsec);
}

// What List says of a cassette file beyond its name and size.
struct Summary {
  uint64_t interactions = 0;
  std::string content_sha256;
  std::optional<google::protobuf::Timestamp> updated_at;
};

// A binary file is read through a mapping, one interaction at a time, and
// its pages let go as it goes: a listing never holds a cassette in memory
// (read, parsed and serialized again whole, a 1 GiB cassette took 5 GiB).
// A JSON file is parsed whole. `name` is the one it is listed as (and hashed
// with, as Load gives it).
absl::StatusOr<Summary> Summarize(const fs::path& path,
                                  const std::string& name) {
  Summary out;
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (raw < 0) return ErrnoStatus("cannot open cassette file", path.string());
  Fd fd(raw);
  if (absl::EndsWith(path.string(), kJsonExtension)) {
    ASSIGN_OR_RETURN(std::string bytes, ReadFd(fd.get(), path.string()));
    ASSIGN_OR_RETURN(v1::Cassette cassette, ParseFile(path.string(), bytes));
    cassette.set_name(name);
    out.interactions = static_cast<uint64_t>(cassette.interactions_size());
    out.content_sha256 = ContentSha256(cassette);
    if (cassette.has_updated_at()) out.updated_at = cassette.updated_at();
    return out;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<CassetteImage> image,
                   CassetteImage::Map(fd.get(), path.string()));
  v1::Cassette header = image->header();
  header.set_name(name);
  ContentDigest digest(header);
  for (size_t i = 0; i < image->size(); ++i) {
    ASSIGN_OR_RETURN(v1::Interaction interaction, image->Interaction(i));
    digest.Add(interaction);
    image->Release(i);
  }
  image->ReleaseAll();
  out.interactions = image->size();
  out.content_sha256 = digest.Finish();
  if (header.has_updated_at()) out.updated_at = header.updated_at();
  return out;
}

}  // namespace

absl::string_view CassetteFormatName(CassetteFormat format) {
  return format == CassetteFormat::kJson ? "json" : "binary";
}

bool ParseCassetteFormat(absl::string_view text, CassetteFormat* format) {
  if (text == "binary") {
    *format = CassetteFormat::kBinary;
    return true;
  }
  if (text == "json") {
    *format = CassetteFormat::kJson;
    return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<FileCassetteStore>> FileCassetteStore::Create(
    std::string dir, CassetteFormat format, mode_t file_mode) {
  if ((file_mode & ~mode_t{0777}) != 0 || (file_mode & 0600) != 0600) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "file mode %04o: cassettes and journals need owner read and write "
        "(0600) and no bits beyond 0777, e.g. 0600 or 0640",
        file_mode));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot create cassette directory ", dir, ": ", ec.message()));
  }
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cassette directory ", dir, " is not a directory"));
  }
  return std::unique_ptr<FileCassetteStore>(
      new FileCassetteStore(dir, format, file_mode));
}

std::string FileCassetteStore::PathFor(absl::string_view name,
                                       CassetteFormat format) const {
  return (fs::path(dir_) / absl::StrCat(name, Extension(format))).string();
}

std::string FileCassetteStore::ExistingPath(absl::string_view name) const {
  for (CassetteFormat f : {format_, Other(format_)}) {
    std::string path = PathFor(name, f);
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return path;
  }
  return "";
}

std::string FileCassetteStore::Describe(absl::string_view name) const {
  std::string existing = ExistingPath(name);
  return existing.empty() ? PathFor(name) : existing;
}

absl::StatusOr<FileCassetteStore::Located> FileCassetteStore::Locate(
    absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  std::string base;
  absl::StatusOr<Fd> dir = OpenParent(dir_, name, /*create=*/false, base);
  if (absl::IsNotFound(dir.status())) return Located{};
  if (!dir.ok()) return dir.status();
  for (CassetteFormat f : {format_, Other(format_)}) {
    const std::string leaf = absl::StrCat(base, Extension(f));
    struct stat st {};
    if (::fstatat(dir->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoStatus("cannot stat", PathFor(name, f));
    }
    if (S_ISLNK(st.st_mode)) {
      return SymlinkRefused(dir_, name, PathFor(name, f));
    }
    if (S_ISREG(st.st_mode)) {
      return Located{.dir_fd = dir->release(), .leaf = leaf, .format = f};
    }
  }
  return Located{};
}

absl::StatusOr<bool> FileCassetteStore::Exists(absl::string_view name) const {
  ASSIGN_OR_RETURN(Located found, Locate(name));
  Fd close_dir(found.dir_fd);
  return found.format.has_value();
}

absl::StatusOr<v1::Cassette> FileCassetteStore::Load(
    absl::string_view name) const {
  ASSIGN_OR_RETURN(Located found, Locate(name));
  Fd dir(found.dir_fd);
  if (!found.format.has_value()) {
    return absl::NotFoundError(absl::StrCat("cassette '", name,
                                            "' does not exist (looked for ",
                                            PathFor(name), ")"));
  }
  const std::string path = PathFor(name, *found.format);
  ASSIGN_OR_RETURN(Fd fd,
                   OpenCassetteFile(dir.get(), found.leaf, dir_, name, path));
  ASSIGN_OR_RETURN(std::string bytes, ReadFd(fd.get(), path));
  ASSIGN_OR_RETURN(v1::Cassette cassette, ParseFile(path, bytes));
  // The name it was loaded as wins over the one stored inside: a copy saved
  // under a new name is saved back under that name, never over the original.
  cassette.set_name(std::string(name));
  return cassette;
}

absl::StatusOr<std::unique_ptr<CassetteImage>> CassetteStore::LoadImage(
    absl::string_view name) const {
  ASSIGN_OR_RETURN(v1::Cassette cassette, Load(name));
  return CassetteImage::FromCassette(cassette);
}

absl::StatusOr<std::unique_ptr<CassetteImage>> FileCassetteStore::LoadImage(
    absl::string_view name) const {
  ASSIGN_OR_RETURN(Located found, Locate(name));
  Fd dir(found.dir_fd);
  if (found.format != CassetteFormat::kBinary)
    return CassetteStore::LoadImage(name);
  const std::string path = PathFor(name, *found.format);
  ASSIGN_OR_RETURN(Fd fd,
                   OpenCassetteFile(dir.get(), found.leaf, dir_, name, path));
  ASSIGN_OR_RETURN(std::unique_ptr<CassetteImage> image,
                   CassetteImage::Map(fd.get(), path));
  image->mutable_header().set_name(std::string(name));
  return image;
}

absl::StatusOr<std::string> FileCassetteStore::Save(
    const v1::Cassette& cassette) {
  // A binary cassette is written as it is serialised, a megabyte at a time
  // (WriteCassette; never a second copy of a recording in memory), copying
  // in the large bodies that are in files (spooled.h); JSON reads those
  // first and is written whole.
  if (format_ == CassetteFormat::kBinary) {
    return WriteFile(cassette.name(), [&](int fd, const std::string& tmp) {
      return WriteCassette(cassette, fd, tmp);
    });
  }
  std::string bytes;
  if (HasSpooledBodies(cassette)) {
    ASSIGN_OR_RETURN(const v1::Cassette whole, ReadSpooledBodies(cassette));
    ASSIGN_OR_RETURN(bytes, SerializeCassetteJson(whole));
  } else {
    ASSIGN_OR_RETURN(bytes, SerializeCassetteJson(cassette));
  }
  return WriteFile(cassette.name(), [&](int fd, const std::string& tmp) {
    return WriteAll(fd, bytes, tmp);
  });
}

absl::StatusOr<std::string> FileCassetteStore::SaveRecording(
    Recording& recording) {
  // Binary: one interaction in memory at a time, however long the recording.
  if (format_ != CassetteFormat::kBinary) {
    return CassetteStore::SaveRecording(recording);
  }
  return WriteFile(recording.head().name(),
                   [&](int fd, const std::string& tmp) {
                     return WriteCassette(recording, fd, tmp);
                   });
}

absl::StatusOr<std::string> CassetteStore::SaveRecording(Recording& recording) {
  ASSIGN_OR_RETURN(const v1::Cassette whole, recording.Whole());
  return Save(whole);
}

absl::StatusOr<std::string> FileCassetteStore::WriteFile(
    const std::string& name,
    absl::FunctionRef<absl::Status(int fd, const std::string& path)> write) {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  std::string base;
  ASSIGN_OR_RETURN(Fd dir, OpenParent(dir_, name, /*create=*/true, base));
  const std::string path = PathFor(name);
  const std::string leaf = absl::StrCat(base, Extension(format_));
  const std::string tmp_leaf =
      absl::StrCat(leaf, ".tmp-", ::getpid(), "-", tmp_counter_.fetch_add(1));
  const std::string tmp = absl::StrCat(path, ".tmp-", ::getpid());
  {
    Fd fd(::openat(dir.get(), tmp_leaf.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   file_mode_));
    if (fd.get() < 0) return ErrnoStatus("cannot create", tmp);
    // Exactly the configured mode, whatever the umask.
    absl::Status st = ::fchmod(fd.get(), file_mode_) == 0
                          ? absl::OkStatus()
                          : ErrnoStatus("cannot set the mode of", tmp);
    if (st.ok()) st = write(fd.get(), tmp);
    if (st.ok() && ::fsync(fd.get()) != 0)
      st = ErrnoStatus("cannot fsync", tmp);
    if (st.ok() && ::close(fd.release()) != 0) {
      st = ErrnoStatus("cannot close", tmp);
    }
    if (!st.ok()) {
      ::unlinkat(dir.get(), tmp_leaf.c_str(), 0);
      return st;
    }
  }
  // rename(2) replaces a link at `leaf` itself; it never writes through it.
  if (::renameat(dir.get(), tmp_leaf.c_str(), dir.get(), leaf.c_str()) != 0) {
    absl::Status st = ErrnoStatus("cannot rename into place", path);
    ::unlinkat(dir.get(), tmp_leaf.c_str(), 0);
    return st;
  }
  // The cassette is replaced: a file of the other format would be stale.
  const std::string other_leaf = absl::StrCat(base, Extension(Other(format_)));
  if (::unlinkat(dir.get(), other_leaf.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoStatus("cannot remove the stale",
                       PathFor(name, Other(format_)));
  }
  if (::fsync(dir.get()) != 0) {
    return ErrnoStatus("cannot fsync", fs::path(path).parent_path().string());
  }
  return path;
}

absl::StatusOr<std::vector<v1::CassetteInfo>> FileCassetteStore::List(
    absl::string_view prefix) const {
  // name -> the file that holds it (the configured format wins).
  std::map<std::string, fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(
           dir_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    // Links are not followed (see OpenParent); the iterator does not follow
    // directory links either.
    if (it->symlink_status(type_ec).type() != fs::file_type::regular) continue;
    const std::string file = it->path().filename().string();
    if (absl::StrContains(file, ".tmp-") || absl::EndsWith(file, ".journal")) {
      continue;
    }
    CassetteFormat format;
    if (absl::EndsWith(file, kBinaryExtension)) {
      format = CassetteFormat::kBinary;
    } else if (absl::EndsWith(file, kJsonExtension)) {
      format = CassetteFormat::kJson;
    } else {
      continue;
    }
    std::string name = it->path().lexically_relative(dir_).generic_string();
    name.resize(name.size() - Extension(format).size());
    if (!ValidateCassetteName(name).ok() || !absl::StartsWith(name, prefix)) {
      continue;
    }
    auto [slot, inserted] = files.emplace(name, it->path());
    if (!inserted && format == format_) slot->second = it->path();
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot list cassette directory ",
                                            dir_, ": ", ec.message()));
  }
  std::vector<v1::CassetteInfo> out;
  out.reserve(files.size());
  for (const auto& [name, path] : files) {
    v1::CassetteInfo info;
    info.set_name(name);
    info.set_format(std::string(
        CassetteFormatName(absl::EndsWith(path.string(), kJsonExtension)
                               ? CassetteFormat::kJson
                               : CassetteFormat::kBinary)));
    std::error_code size_ec;
    const uintmax_t size = fs::file_size(path, size_ec);
    if (size_ec) continue;  // removed while listing
    info.set_size_bytes(size);
    // A file that does not parse is still listed (so that it can be seen
    // and removed), with no interactions and its modification time.
    absl::StatusOr<Summary> summary = Summarize(path, name);
    if (summary.ok()) {
      info.set_interactions(summary->interactions);
      info.set_content_sha256(std::move(summary->content_sha256));
    }
    *info.mutable_updated_at() = summary.ok() && summary->updated_at
                                     ? *summary->updated_at
                                     : MTime(path);
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status FileCassetteStore::Delete(absl::string_view name) {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  std::string base;
  absl::StatusOr<Fd> dir = OpenParent(dir_, name, /*create=*/false, base);
  bool removed = false;
  if (dir.ok()) {
    for (CassetteFormat f : {format_, Other(format_)}) {
      const std::string leaf = absl::StrCat(base, Extension(f));
      if (::unlinkat(dir->get(), leaf.c_str(), 0) == 0) {
        removed = true;
      } else if (errno != ENOENT) {
        return ErrnoStatus("cannot remove", PathFor(name, f));
      }
    }
  } else if (!absl::IsNotFound(dir.status())) {
    return dir.status();
  }
  if (!removed) {
    return absl::NotFoundError(absl::StrCat("cassette '", name,
                                            "' does not exist (looked for ",
                                            PathFor(name), ")"));
  }
  if (::fsync(dir->get()) != 0) {
    return ErrnoStatus("cannot fsync",
                       fs::path(PathFor(name)).parent_path().string());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Journal>> FileCassetteStore::StartJournal(
    absl::string_view name) {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  std::string base;
  ASSIGN_OR_RETURN(Fd dir, OpenParent(dir_, name, /*create=*/true, base));
  // Journals are binary whatever the format; RecoverJournals looks for them.
  return Journal::OpenAt(dir.release(), absl::StrCat(base, kJournalExtension),
                         JournalPath(name), file_mode_);
}

std::string FileCassetteStore::JournalPath(absl::string_view name) const {
  return PathFor(name, CassetteFormat::kBinary) + ".journal";
}

}  // namespace matgto::cassette
