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
class Scrubber {
 public:
  // Scrubs nothing.
  Scrubber();
  explicit Scrubber(const std::vector<std::string>& secrets);
  ~Scrubber();

  bool empty() const { return plain_ == nullptr; }
  // Every occurrence of a secret, raw or JSON-escaped, becomes
  // "[REDACTED]"; percent-encoded (RFC 3986 or form encoding) it becomes
  // "%5BREDACTED%5D". Returns whether `text` changed.
  bool Scrub(std::string& text) const;

 private:
  // Alternations of the quoted values (Latin-1, so any bytes match).
  std::unique_ptr<re2::RE2> plain_;
  std::unique_ptr<re2::RE2> encoded_;
};

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

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> values_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ordered_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Scrubber> scrubber_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const Scrubber>();
};

}  // namespace matgto::cassette
