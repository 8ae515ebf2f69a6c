#include "server/cassette/s3/object_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace matgto::cassette::s3 {
namespace {

namespace fs = std::filesystem;

// First line of every entry; the second is the ETag, then the bytes.
constexpr absl::string_view kMagic = "matgto-cache 1\n";

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string ObjectCache::PathFor(absl::string_view key) const {
  return (fs::path(dir_) / std::string(key)).string();
}

std::optional<ObjectCache::Entry> ObjectCache::Get(
    absl::string_view key) const {
  const std::string path = PathFor(key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream all;
  all << in.rdbuf();
  if (in.bad()) return std::nullopt;
  std::string data = all.str();
  if (!absl::StartsWith(data, kMagic)) return std::nullopt;
  const size_t etag_end = data.find('\n', kMagic.size());
  if (etag_end == std::string::npos) return std::nullopt;
  Entry entry;
  entry.etag = data.substr(kMagic.size(), etag_end - kMagic.size());
  entry.bytes = data.substr(etag_end + 1);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    entry.stored_at = absl::FromUnixSeconds(st.st_mtim.tv_sec);
  }
  if (entry.etag.empty()) return std::nullopt;
  return entry;
}

absl::Status ObjectCache::Put(absl::string_view key, absl::string_view etag,
                              absl::string_view bytes) const {
  return Write(key, etag, [&](int fd) { return WriteAll(fd, bytes); });
}

absl::Status ObjectCache::PutFile(absl::string_view key, absl::string_view etag,
                                  int from, uint64_t size) const {
  return Write(key, etag, [&](int fd) {
    off_t at = 0;
    while (static_cast<uint64_t>(at) < size) {
      const size_t left = static_cast<size_t>(size - static_cast<uint64_t>(at));
      const ssize_t n = ::copy_file_range(from, &at, fd, nullptr,
                                          std::min<size_t>(left, 1 << 30), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) continue;
      if (n == 0) return false;  // the file is shorter than said
      // Not between these files: read and write.
      std::string buffer(1 << 20, '\0');
      while (static_cast<uint64_t>(at) < size) {
        const ssize_t got =
            ::pread(from, buffer.data(),
                    std::min<size_t>(
                        buffer.size(),
                        static_cast<size_t>(size - static_cast<uint64_t>(at))),
                    at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0 ||
            !WriteAll(fd, absl::string_view(buffer.data(),
                                            static_cast<size_t>(got)))) {
          return false;
        }
        at += got;
      }
    }
    return true;
  });
}

absl::Status ObjectCache::Write(absl::string_view key, absl::string_view etag,
                                absl::FunctionRef<bool(int fd)> body) const {
  static std::atomic<uint64_t> counter{0};
  if (etag.empty() || absl::StrContains(etag, '\n')) {
    return absl::InvalidArgumentError("no usable ETag to cache under");
  }
  const fs::path path = PathFor(key);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create cache directory ",
                                            path.parent_path().string(), ": ",
                                            ec.message()));
  }
  const std::string tmp = absl::StrCat(path.string(), ".tmp-", ::getpid(), "-",
                                       counter.fetch_add(1));
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  bool ok = ::fchmod(fd, mode_) == 0 &&
            WriteAll(fd, absl::StrCat(kMagic, etag, "\n")) && body(fd);
  const int err = errno;
  if (::close(fd) != 0) ok = false;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(ok ? errno : err);
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write cache entry ", path.string(), ": ", why));
  }
  return absl::OkStatus();
}

void ObjectCache::Remove(absl::string_view key) const {
  ::unlink(PathFor(key).c_str());
}

}  // namespace matgto::cassette::s3
