// The few POSIX file helpers the cassette directory's writers share (the
// store's files, spooled bodies): an errno turned into a Status that names
// the file, a descriptor closed on every path out, and a whole write.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace matgto::cassette {

// "<what> <path>: <strerror(errno)>", read from errno at the call: NOT_FOUND
// for ENOENT, PERMISSION_DENIED for EACCES/EPERM, RESOURCE_EXHAUSTED for
// ENOSPC, INTERNAL otherwise.
absl::Status ErrnoStatus(absl::string_view what, absl::string_view path);

// Writes all of `data`, retrying short writes and EINTR.
absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path);

// Closes the descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(-1); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd);

 private:
  int fd_;
};

}  // namespace matgto::cassette
