#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/cassette/codec.h"
#include "server/cassette/name.h"
#include "server/cassette/store.h"
#include "server/core/status_macros.h"

namespace matgto::cassette {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoStatus(absl::string_view what, absl::string_view path) {
  int err = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  if (err == ENOSPC) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

// Closes the descriptor on every path out of Save.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open directory", dir.string());
  if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync", dir.string());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileCassetteStore>> FileCassetteStore::Create(
    std::string dir) {
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
  return std::unique_ptr<FileCassetteStore>(new FileCassetteStore(dir));
}

std::string FileCassetteStore::PathFor(absl::string_view name) const {
  return (fs::path(dir_) / absl::StrCat(name, ".pb")).string();
}

std::string FileCassetteStore::Describe(absl::string_view name) const {
  return PathFor(name);
}

absl::StatusOr<bool> FileCassetteStore::Exists(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  std::error_code ec;
  bool exists = fs::is_regular_file(PathFor(name), ec);
  return exists;
}

absl::StatusOr<v1::Cassette> FileCassetteStore::Load(
    absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  const std::string path = PathFor(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || !fs::exists(path)) {
      return absl::NotFoundError(absl::StrCat(
          "cassette '", name, "' does not exist (looked for ", path, ")"));
    }
    return ErrnoStatus("cannot open cassette file", path);
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return ErrnoStatus("cannot read cassette file", path);
  return ParseCassette(bytes.str(), path);
}

absl::StatusOr<std::string> FileCassetteStore::Save(
    const v1::Cassette& cassette) {
  RETURN_IF_ERROR(ValidateCassetteName(cassette.name()));
  const fs::path path = PathFor(cassette.name());
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "cannot create directory ", path.parent_path().string(), ": ",
        ec.message()));
  }
  const std::string tmp = absl::StrCat(path.string(), ".tmp-", ::getpid(), "-",
                                       tmp_counter_.fetch_add(1));
  const std::string bytes = SerializeCassette(cassette);
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoStatus("cannot create", tmp);
    absl::Status st = WriteAll(fd.get(), bytes, tmp);
    if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoStatus("cannot fsync", tmp);
    if (st.ok() && ::close(fd.release()) != 0) {
      st = ErrnoStatus("cannot close", tmp);
    }
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status st = ErrnoStatus("cannot rename into place", path.string());
    ::unlink(tmp.c_str());
    return st;
  }
  RETURN_IF_ERROR(FsyncDir(path.parent_path()));
  return path.string();
}

absl::StatusOr<std::unique_ptr<Journal>> FileCassetteStore::StartJournal(
    absl::string_view name) {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  const fs::path path = PathFor(name) + ".journal";
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  return Journal::Open(path.string());
}

std::vector<std::string> FileCassetteStore::RecoverJournals() {
  std::vector<std::string> report;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    if (!it->is_regular_file() || !absl::EndsWith(path, ".pb.journal")) continue;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    auto cassette = RecoverJournal(bytes.str(), path);
    if (!cassette.ok()) {
      report.push_back(absl::StrCat("cannot recover ", path, ": ",
                                    cassette.status().message(),
                                    " (left in place)"));
      continue;
    }
    auto saved = Save(*cassette);
    if (!saved.ok()) {
      report.push_back(absl::StrCat("cannot save the recovery of ", path, ": ",
                                    saved.status().message()));
      continue;
    }
    ::unlink(path.c_str());
    report.push_back(absl::StrCat("recovered cassette '", cassette->name(),
                                  "' (", cassette->interactions_size(),
                                  " interactions) from an interrupted recording"));
  }
  return report;
}

}  // namespace matgto::cassette
