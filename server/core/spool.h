// Bodies written to disk as they arrive: a recorded response too large to
// hold in memory (a download of a gigabyte) goes to a file piece by piece,
// and the recording refers to the file (HttpResponse::spooled). The proxy
// asks a BodySpooler (handed to it in a Forward) for a file when a kept body
// grows past kSpoolBodyBytes; the record/replay side decides where files go.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/http.h"

namespace matgto::core {

// A kept body past this size goes to a spool file (when the forward has a
// spooler); below, it stays in memory.
inline constexpr uint64_t kSpoolBodyBytes = 1024 * 1024;

// One body being written. Lives on its connection's strand. Destroyed
// without Finish, its file is left for the journal to remove.
class BodySpool {
 public:
  virtual ~BodySpool() = default;
  // Appends `bytes` (a write to the page cache: the file is not synced).
  virtual absl::Status Append(std::string_view bytes) = 0;
  // Closes the file; what a response refers to.
  virtual absl::StatusOr<std::shared_ptr<const SpooledBody>> Finish() = 0;
};

// Thread-safety: Open may be called from any thread.
class BodySpooler {
 public:
  virtual ~BodySpooler() = default;
  virtual absl::StatusOr<std::unique_ptr<BodySpool>> Open() = 0;
};

}  // namespace matgto::core
