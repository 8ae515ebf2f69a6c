// The read-through cache of an S3CassetteStore: the bytes of each object it
// downloaded or uploaded, with the ETag they had, in <dir>/<key>. A cached
// copy is used when the store says it is current (a conditional GET
// answered 304, or a HEAD just now gave the same ETag), or, with
// --stale-cache, when the store cannot be reached.
//
// Thread-safety: entries are written to a temporary file and renamed into
// place, so concurrent readers and writers (threads or processes sharing a
// cache directory) see a whole entry or none; the last writer wins.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace matgto::cassette::s3 {

class ObjectCache {
 public:
  struct Entry {
    std::string etag;
    std::string bytes;
    absl::Time stored_at = absl::InfinitePast();
  };

  // `dir` is created on the first Put; files get `mode`.
  ObjectCache(std::string dir, mode_t mode)
      : dir_(std::move(dir)), mode_(mode) {}

  // nullopt when there is no (readable, well-formed) entry.
  std::optional<Entry> Get(absl::string_view key) const;
  absl::Status Put(absl::string_view key, absl::string_view etag,
                   absl::string_view bytes) const;
  // The same with the first `size` bytes of the file open on `fd` (copied
  // kernel to kernel where it can).
  absl::Status PutFile(absl::string_view key, absl::string_view etag, int fd,
                       uint64_t size) const;
  void Remove(absl::string_view key) const;
  std::string PathFor(absl::string_view key) const;

 private:
  // Writes an entry for `key`: the header, then what `body` writes to the
  // temporary file's descriptor; renamed into place when it succeeds.
  absl::Status Write(absl::string_view key, absl::string_view etag,
                     absl::FunctionRef<bool(int fd)> body) const;

  const std::string dir_;
  const mode_t mode_;
};

}  // namespace matgto::cassette::s3
