#include "server/cassette/secrets.h"

#include <re2/re2.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/cassette/redact.h"

namespace matgto::cassette {
namespace {

constexpr absl::string_view kRedactedEncoded = "%5BREDACTED%5D";

bool Unreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// RFC 3986 percent-encoding with upper- or lower-case hex digits, and form
// encoding (space as '+').
std::string PercentEncode(absl::string_view s, bool lower, bool form) {
  const char* hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (Unreserved(c)) {
      out += static_cast<char>(c);
    } else if (form && c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The value as it appears inside a JSON string ("a/b" may be "a\/b").
std::string JsonEscaped(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\' || c == '/') out += '\\';
    out += c;
  }
  return out;
}

std::unique_ptr<re2::RE2> Alternation(std::vector<std::string> needles) {
  if (needles.empty()) return nullptr;
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(needles.begin(), needles.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  needles.erase(std::unique(needles.begin(), needles.end()), needles.end());
  std::vector<std::string> quoted;
  quoted.reserve(needles.size());
  for (const std::string& n : needles) quoted.push_back(re2::RE2::QuoteMeta(n));
  re2::RE2::Options options;
  options.set_encoding(re2::RE2::Options::EncodingLatin1);
  options.set_log_errors(false);
  options.set_max_mem(64 << 20);
  return std::make_unique<re2::RE2>(absl::StrJoin(quoted, "|"), options);
}

}  // namespace

Scrubber::Scrubber(const std::vector<std::string>& secrets) {
  std::vector<std::string> plain;
  std::vector<std::string> encoded;
  for (const std::string& s : secrets) {
    plain.push_back(s);
    if (std::string j = JsonEscaped(s); j != s) plain.push_back(std::move(j));
    for (bool lower : {false, true}) {
      for (bool form : {false, true}) {
        std::string e = PercentEncode(s, lower, form);
        if (e != s) encoded.push_back(std::move(e));
      }
    }
  }
  plain_ = Alternation(std::move(plain));
  encoded_ = Alternation(std::move(encoded));
}

Scrubber::Scrubber() = default;
Scrubber::~Scrubber() = default;

bool Scrubber::Scrub(std::string& text) const {
  if (plain_ == nullptr || text.empty()) return false;
  bool changed = false;
  // Encoded forms first: they contain no raw secret, but a raw secret made
  // only of unreserved characters is its own encoding.
  if (encoded_ != nullptr) {
    changed |=
        re2::RE2::GlobalReplace(&text, *encoded_,
                                re2::StringPiece(kRedactedEncoded.data(),
                                                 kRedactedEncoded.size())) > 0;
  }
  changed |= re2::RE2::GlobalReplace(
                 &text, *plain_,
                 re2::StringPiece(kRedacted.data(), kRedacted.size())) > 0;
  return changed;
}

void KnownSecrets::Add(const std::vector<std::string>& values) {
  absl::MutexLock lock(&mu_);
  bool added = false;
  for (const std::string& raw : values) {
    absl::string_view v = absl::StripAsciiWhitespace(raw);
    if (v.size() < kMinLength || v == kRedacted || v == kRedactedEncoded ||
        v.find(kRedacted) != absl::string_view::npos) {
      continue;
    }
    if (values_.emplace(v).second) {
      ordered_.emplace_back(v);
      added = true;
    }
  }
  if (added) scrubber_ = std::make_shared<const Scrubber>(ordered_);
}

std::shared_ptr<const Scrubber> KnownSecrets::scrubber() const {
  absl::MutexLock lock(&mu_);
  return scrubber_;
}

size_t KnownSecrets::size() const {
  absl::MutexLock lock(&mu_);
  return ordered_.size();
}

}  // namespace matgto::cassette
