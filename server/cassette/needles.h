// Exact search for many strings at once, for the scrubber of known secrets
// (secrets.h): a session that learns a new token per exchange adds a
// needle per exchange, and every exchange is searched for all of them.
//
// Each needle is filed under one 8-byte window of itself (a "key"), chosen
// when it is added among windows no needle before it was filed under (from
// its end back: tokens that share a prefix, as JWTs of one issuer do, differ
// at their end). A search loads the text's 8-byte window at every offset,
// tests one bit of a filter of the keys (an L1/L2-sized array), and only on
// a hit looks the key up and compares the needles filed under it. So a
// search costs about the same for 10 needles as for 1,000,000, and adding
// one costs a few hash lookups: no automaton is rebuilt. (RE2 has no
// incremental multi-string matcher, and alternations of thousands of
// needles recompiled as they grew were what bound such a recording; this
// is written here for that reason.) Needles shorter than a window are
// searched one by one; the scrubber never adds any (KnownSecrets::
// kMinLength).
//
// Append-only: a search sees the first `visible` needles, so a scrubber is
// a snapshot (an index and a count) while a newer one adds to the same
// index. Thread-safety: every method may be called concurrently; searches
// share a reader lock, Add takes it exclusively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace matgto::cassette {

class Needles {
 public:
  // Which replacement a needle's matches get (a scrubber's two passes).
  enum class Kind : uint8_t { kPlain, kEncoded };
  struct Match {
    size_t start;
    size_t length;
  };

  // Appends `needles` (empty ones are ignored) and returns how many the
  // index holds now.
  size_t Add(const std::vector<std::string>& needles, Kind kind);
  // Appends `plain` and `encoded` needles when the index holds `expected`
  // (nobody appended since the caller's snapshot): the new count, or
  // nullopt and nothing appended.
  std::optional<size_t> AddAfter(size_t expected,
                                 const std::vector<std::string>& plain,
                                 const std::vector<std::string>& encoded);
  size_t size() const;
  // Appends the first `visible` needles of `other` (another index).
  void CopyFrom(const Needles& other, size_t visible);
  // The longest of the first `visible` needles of `kind` at each place they
  // occur in `text`, leftmost first, not overlapping: as repeated
  // leftmost-longest searches of one alternation would find them.
  std::vector<Match> Find(absl::string_view text, size_t visible,
                          Kind kind) const;
  // The same for both kinds at once (one pass over `text`).
  struct Found {
    std::vector<Match> plain;
    std::vector<Match> encoded;
  };
  Found FindBoth(absl::string_view text, size_t visible) const;
  // Whether any of the first `visible` needles occurs in `text`.
  bool Any(absl::string_view text, size_t visible) const;

 private:
  static constexpr size_t kWindow = 8;
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Needle {
    uint32_t offset;  // in bytes_
    uint32_t length;
    uint32_t key_at;  // where its key window starts in it
    uint32_t next;    // the previous needle filed under the same key
    Kind kind;
  };

  static uint64_t Window(const char* at);
  size_t FilterBit(uint64_t key) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void AddOne(absl::string_view needle, Kind kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GrowFilter() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls `found(index, start)` for each occurrence of one of the first
  // `visible` needles (of `kind`, unless `any_kind`), in no set order;
  // stops when it returns false.
  template <typename OnMatch>
  void Scan(absl::string_view text, size_t visible, bool any_kind, Kind kind,
            OnMatch found) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::string bytes_ ABSL_GUARDED_BY(mu_);
  std::vector<Needle> needles_ ABSL_GUARDED_BY(mu_);
  // The newest needle filed under each key.
  absl::flat_hash_map<uint64_t, uint32_t> keys_ ABSL_GUARDED_BY(mu_);
  // One bit per key (hashed): about 32 bits per needle, so that most
  // windows of a text are ruled out without a lookup.
  std::vector<uint64_t> filter_ ABSL_GUARDED_BY(mu_);
  int filter_log2_ ABSL_GUARDED_BY(mu_) = 0;
  // Needles shorter than a window (indexes into needles_).
  std::vector<uint32_t> short_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::cassette
