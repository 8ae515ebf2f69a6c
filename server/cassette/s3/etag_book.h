// What this process last saw of each object it read or wrote, so that a
// save is conditional on the version the recording was based on:
//   - seen with ETag E  -> the save sends If-Match: E
//   - seen absent       -> the save sends If-None-Match: *
//   - never seen        -> the save is unconditional (e.g. `cassette import`
//                          into a bucket, which replaces whatever is there)
// A store that answers 412 (or 409) to a conditional save tells us someone
// else wrote the object since we looked: the caller reports ABORTED.
//
// Locking story: one mutex guards the map and nothing else. It is held only
// to read or update an entry, never across a network request, so a slow
// store never blocks another cassette's bookkeeping. Atomicity of a
// read-then-save is not this class's job: the object store checks the
// condition when it applies the write. Two saves of one key racing inside
// this process both send the same condition and the store lets one win. An
// observation that arrives late (a HEAD answered before a save of ours but
// recorded after it) can only make the next save's condition stale, which
// the store turns into a 412 - a false conflict whose recording is kept
// locally, never a lost write.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace matgto::cassette::s3 {

class ETagBook {
 public:
  enum class Kind { kUnknown, kAbsent, kPresent };
  struct Seen {
    Kind kind = Kind::kUnknown;
    std::string etag;                      // kPresent only
    absl::Time at = absl::InfinitePast();  // when it was observed
  };

  void SawPresent(absl::string_view key, absl::string_view etag, absl::Time at);
  void SawAbsent(absl::string_view key, absl::Time at);
  void Forget(absl::string_view key);
  Seen Get(absl::string_view key) const;

  // The precondition header (name, value) a save of `key` sends, or nullopt
  // for an unconditional save.
  std::optional<std::pair<std::string, std::string>> SaveCondition(
      absl::string_view key) const;

  // What a journal remembers across a crash: "etag E", "absent" or
  // "unknown"; Restore reads it back (an unreadable line: unknown).
  static std::string Serialize(const Seen& seen);
  static Seen Parse(absl::string_view line);
  void Restore(absl::string_view key, const Seen& seen);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Seen> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::cassette::s3
