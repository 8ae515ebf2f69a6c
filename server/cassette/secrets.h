// The secret values a session's redaction has removed so far, so that the
// same value is scrubbed wherever else it turns up: a response body that
// echoes a token, a redirect URL, another header, a later exchange, a
// WebSocket message.
//
// Values shorter than KnownSecrets::kMinLength are not scrubbed elsewhere
// (they are still redacted where a rule found them): replacing every "1" or
// "dark" in a cassette would destroy it without protecting anything.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace re2 {
class RE2;
}

namespace matgto::cassette {

// Replaces known secrets in text. Thread-safety: immutable; share freely.
//
// The secrets are matched by RE2 alternations, in segments: a scrubber for
// one more secret shares the segments of the one before and compiles only
// a small new one, merging segments of similar sizes as they grow (so a
// session that learns a secret per exchange compiles O(n log n) patterns
// in all, not O(n^2)). Matches are replaced leftmost first and, at the same
// place, longest first across every segment, as one alternation would: a
// secret that contains another is replaced whole.
class Scrubber {
 public:
  // Scrubs nothing.
  Scrubber();
  explicit Scrubber(const std::vector<std::string>& secrets);
  // `base`'s secrets and `added`.
  Scrubber(const Scrubber& base, const std::vector<std::string>& added);
  ~Scrubber();

  bool empty() const { return segments_.empty(); }
  // Every occurrence of a secret, raw or JSON-escaped, becomes
  // "[REDACTED]"; percent-encoded (RFC 3986 or form encoding) it becomes
  // "%5BREDACTED%5D". Returns whether `text` changed.
  bool Scrub(std::string& text) const;
  // Whether Scrub would find a secret anywhere in `text` (true too when
  // its patterns could not be built: the caller then looks closer).
  bool Finds(absl::string_view text) const;

 private:
  struct Segment;
  void Add(std::vector<std::string> secrets);

  std::vector<std::shared_ptr<const Segment>> segments_;
};

// Every form in which Scrubber finds `secrets`: each as it is, JSON-escaped,
// and percent-encoded (RFC 3986 with upper- and lower-case hex digits, and
// form encoding), without repeats.
std::vector<std::string> SecretForms(const std::vector<std::string>& secrets);

// Thread-safety: every method may be called concurrently (own mutex, held
// for in-memory work only).
class KnownSecrets {
 public:
  static constexpr size_t kMinLength = 8;

  // Adds values (shorter ones and the placeholder itself are ignored).
  void Add(const std::vector<std::string>& values);
  // A scrubber for every value added so far (rebuilt only when one is new).
  std::shared_ptr<const Scrubber> scrubber() const;
  size_t size() const;
  // The values added after the first `from` ones, in the order added.
  std::vector<std::string> Since(size_t from) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> values_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ordered_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Scrubber> scrubber_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const Scrubber>();
};

}  // namespace matgto::cassette
