#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
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

constexpr absl::string_view kBinaryExtension = ".pb";
constexpr absl::string_view kJsonExtension = ".json";

absl::string_view Extension(CassetteFormat format) {
  return format == CassetteFormat::kJson ? kJsonExtension : kBinaryExtension;
}

CassetteFormat Other(CassetteFormat format) {
  return format == CassetteFormat::kJson ? CassetteFormat::kBinary
                                         : CassetteFormat::kJson;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus("cannot open cassette file", path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return ErrnoStatus("cannot read cassette file", path);
  return bytes.str();
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
    std::string dir, CassetteFormat format) {
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
  return std::unique_ptr<FileCassetteStore>(new FileCassetteStore(dir, format));
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

absl::StatusOr<bool> FileCassetteStore::Exists(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  return !ExistingPath(name).empty();
}

absl::StatusOr<v1::Cassette> FileCassetteStore::Load(
    absl::string_view name) const {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  const std::string path = ExistingPath(name);
  if (path.empty()) {
    return absl::NotFoundError(absl::StrCat("cassette '", name,
                                            "' does not exist (looked for ",
                                            PathFor(name), ")"));
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseFile(path, bytes);
}

absl::StatusOr<std::string> FileCassetteStore::Save(
    const v1::Cassette& cassette) {
  RETURN_IF_ERROR(ValidateCassetteName(cassette.name()));
  const fs::path path = PathFor(cassette.name());
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create directory ",
                                            path.parent_path().string(), ": ",
                                            ec.message()));
  }
  const std::string tmp = absl::StrCat(path.string(), ".tmp-", ::getpid(), "-",
                                       tmp_counter_.fetch_add(1));
  std::string bytes;
  if (format_ == CassetteFormat::kJson) {
    ASSIGN_OR_RETURN(bytes, SerializeCassetteJson(cassette));
  } else {
    bytes = SerializeCassette(cassette);
  }
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoStatus("cannot create", tmp);
    absl::Status st = WriteAll(fd.get(), bytes, tmp);
    if (st.ok() && ::fsync(fd.get()) != 0)
      st = ErrnoStatus("cannot fsync", tmp);
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
  // The cassette is replaced: a file of the other format would be stale.
  const std::string other = PathFor(cassette.name(), Other(format_));
  if (::unlink(other.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("cannot remove the stale", other);
  }
  RETURN_IF_ERROR(FsyncDir(path.parent_path()));
  return path.string();
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
    if (!it->is_regular_file(type_ec)) continue;
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
    auto bytes = ReadFile(path.string());
    auto cassette = bytes.ok() ? ParseFile(path.string(), *bytes)
                               : absl::StatusOr<v1::Cassette>(bytes.status());
    if (cassette.ok()) {
      info.set_interactions(
          static_cast<uint64_t>(cassette->interactions_size()));
    }
    *info.mutable_updated_at() = cassette.ok() && cassette->has_updated_at()
                                     ? cassette->updated_at()
                                     : MTime(path);
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status FileCassetteStore::Delete(absl::string_view name) {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  bool removed = false;
  for (CassetteFormat f : {format_, Other(format_)}) {
    const std::string path = PathFor(name, f);
    if (::unlink(path.c_str()) == 0) {
      removed = true;
    } else if (errno != ENOENT) {
      return ErrnoStatus("cannot remove", path);
    }
  }
  if (!removed) {
    return absl::NotFoundError(absl::StrCat("cassette '", name,
                                            "' does not exist (looked for ",
                                            PathFor(name), ")"));
  }
  return FsyncDir(fs::path(PathFor(name)).parent_path());
}

absl::StatusOr<std::unique_ptr<Journal>> FileCassetteStore::StartJournal(
    absl::string_view name) {
  RETURN_IF_ERROR(ValidateCassetteName(name));
  // Journals are binary whatever the format; RecoverJournals looks for them.
  const fs::path path = PathFor(name, CassetteFormat::kBinary) + ".journal";
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
    if (!it->is_regular_file() || !absl::EndsWith(path, ".pb.journal"))
      continue;
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
    report.push_back(
        absl::StrCat("recovered cassette '", cassette->name(), "' (",
                     cassette->interactions_size(),
                     " interactions) from an interrupted recording"));
  }
  return report;
}

}  // namespace matgto::cassette
