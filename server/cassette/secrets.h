// The secret values a session's redaction has removed so far, so that the
// same value is scrubbed wherever else it turns up: a response body that
// echoes a token, a redirect URL, another header, a later exchange, a
// WebSocket message.
//
// Values shorter than KnownSecrets::kMinLength are not scrubbed elsewhere
// (they are still redacted where a rule found them): replacing every "1" or
// "dark" in a cassette would destroy it without protecting anything.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/cassette/needles.h"

namespace matgto::cassette {

// Replaces known secrets in text. Thread-safety: immutable as seen by its
// users; share freely.
//
// The secrets' forms are needles of an append-only index (needles.h): a
// scrubber for one more secret adds its forms to the index of the one before
// and sees one more secret's worth, while the one before still sees what it
// saw. While a scrubber has few forms (kRegexForms: a suite's few tokens),
// RE2 alternations of them do the searching instead: RE2 skips ahead to a
// form's first bytes, several times faster per byte of a large body than
// the index's look at every offset; compiling them again for each new
// secret is cheap while they are small, and stops there. Matches are
// replaced leftmost first and, at one place, the longest: a secret that
// contains another is replaced whole.
class Scrubber {
 public:
  // Scrubs nothing.
  Scrubber();
  explicit Scrubber(const std::vector<std::string>& secrets);
  // `base`'s secrets and `added`.
  Scrubber(const Scrubber& base, const std::vector<std::string>& added);
  ~Scrubber();

  bool empty() const { return visible_ == 0; }
  // Every occurrence of a secret, raw or JSON-escaped, becomes
  // "[REDACTED]"; percent-encoded (RFC 3986 or form encoding) it becomes
  // "%5BREDACTED%5D". Returns whether `text` changed.
  bool Scrub(std::string& text) const;
  // Whether Scrub would find a secret anywhere in `text`.
  bool Finds(absl::string_view text) const;

 private:
  static constexpr size_t kRegexForms = 48;
  struct Regexes;

  void Add(const std::vector<std::string>& secrets);

  // Null once there are more than kRegexForms forms.
  std::shared_ptr<const Regexes> regexes_;
  std::shared_ptr<Needles> needles_;
  // How many of needles_'s needles are this scrubber's.
  size_t visible_ = 0;
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
  // How many values were added. Read without the lock: every recorded
  // exchange asks, from every I/O thread, and values are rarely added.
  size_t size() const { return size_.load(std::memory_order_acquire); }
  // The values added after the first `from` ones, in the order added.
  std::vector<std::string> Since(size_t from) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> values_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ordered_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Scrubber> scrubber_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const Scrubber>();
  // ordered_.size(), stored (under mu_) once scrubber_ holds them.
  std::atomic<size_t> size_{0};
};

}  // namespace matgto::cassette
