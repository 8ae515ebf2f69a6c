#include "server/cassette/secrets.h"

#include <re2/re2.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
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

// Some secrets and their two alternations (Latin-1, so any bytes match).
struct Scrubber::Segment {
  explicit Segment(std::vector<std::string> values)
      : secrets(std::move(values)) {
    std::vector<std::string> plain_forms;
    std::vector<std::string> encoded_forms;
    for (const std::string& s : secrets) {
      plain_forms.push_back(s);
      if (std::string j = JsonEscaped(s); j != s) {
        plain_forms.push_back(std::move(j));
      }
      for (bool lower : {false, true}) {
        for (bool form : {false, true}) {
          std::string e = PercentEncode(s, lower, form);
          if (e != s) encoded_forms.push_back(std::move(e));
        }
      }
    }
    plain = Alternation(std::move(plain_forms));
    encoded = Alternation(std::move(encoded_forms));
  }
  std::vector<std::string> secrets;
  std::unique_ptr<re2::RE2> plain;
  std::unique_ptr<re2::RE2> encoded;
};

Scrubber::Scrubber() = default;
Scrubber::~Scrubber() = default;

Scrubber::Scrubber(const std::vector<std::string>& secrets) { Add(secrets); }

Scrubber::Scrubber(const Scrubber& base, const std::vector<std::string>& added)
    : segments_(base.segments_) {
  Add(added);
}

void Scrubber::Add(std::vector<std::string> secrets) {
  if (secrets.empty()) return;
  // Merged with the segments before it while they are no larger than
  // twice it: segment sizes at least double from the newest back.
  while (!segments_.empty() &&
         segments_.back()->secrets.size() <= 2 * secrets.size()) {
    const std::vector<std::string>& older = segments_.back()->secrets;
    secrets.insert(secrets.begin(), older.begin(), older.end());
    segments_.pop_back();
  }
  segments_.push_back(std::make_shared<const Segment>(std::move(secrets)));
}

bool Scrubber::Scrub(std::string& text) const {
  if (text.empty()) return false;
  bool changed = false;
  for (const std::shared_ptr<const Segment>& segment : segments_) {
    // Encoded forms first: they contain no raw secret, but a raw secret
    // made only of unreserved characters is its own encoding.
    if (segment->encoded != nullptr) {
      changed |= re2::RE2::GlobalReplace(
                     &text, *segment->encoded,
                     re2::StringPiece(kRedactedEncoded.data(),
                                      kRedactedEncoded.size())) > 0;
    }
    changed |= re2::RE2::GlobalReplace(
                   &text, *segment->plain,
                   re2::StringPiece(kRedacted.data(), kRedacted.size())) > 0;
  }
  return changed;
}

bool Scrubber::Finds(absl::string_view text) const {
  const re2::StringPiece in(text.data(), text.size());
  for (const std::shared_ptr<const Segment>& segment : segments_) {
    if (!segment->plain->ok() ||
        (segment->encoded != nullptr && !segment->encoded->ok())) {
      return true;
    }
    if (re2::RE2::PartialMatch(in, *segment->plain) ||
        (segment->encoded != nullptr &&
         re2::RE2::PartialMatch(in, *segment->encoded))) {
      return true;
    }
  }
  return false;
}

void KnownSecrets::Add(const std::vector<std::string>& values) {
  absl::MutexLock lock(&mu_);
  size_t added = 0;
  for (const std::string& raw : values) {
    absl::string_view v = absl::StripAsciiWhitespace(raw);
    if (v.size() < kMinLength || v == kRedacted || v == kRedactedEncoded ||
        v.find(kRedacted) != absl::string_view::npos) {
      continue;
    }
    if (values_.emplace(v).second) {
      ordered_.emplace_back(v);
      ++added;
    }
  }
  if (added == 0) return;
  // A new secret that contains a known one, or is contained in one, is
  // compiled with all of them, longest first (see Scrubber); otherwise the
  // new ones go to a segment of their own.
  const size_t known = ordered_.size() - added;
  bool nested = false;
  for (size_t i = known; i < ordered_.size() && !nested; ++i) {
    for (size_t k = 0; k < i && !nested; ++k) {
      nested = absl::StrContains(ordered_[k], ordered_[i]) ||
               absl::StrContains(ordered_[i], ordered_[k]);
    }
  }
  scrubber_ = nested ? std::make_shared<const Scrubber>(ordered_)
                     : std::make_shared<const Scrubber>(
                           *scrubber_,
                           std::vector<std::string>(
                               ordered_.begin() + static_cast<ptrdiff_t>(known),
                               ordered_.end()));
}

std::shared_ptr<const Scrubber> KnownSecrets::scrubber() const {
  absl::MutexLock lock(&mu_);
  return scrubber_;
}

size_t KnownSecrets::size() const {
  absl::MutexLock lock(&mu_);
  return ordered_.size();
}

std::vector<std::string> KnownSecrets::Since(size_t from) const {
  absl::MutexLock lock(&mu_);
  if (from >= ordered_.size()) return {};
  return std::vector<std::string>(
      ordered_.begin() + static_cast<ptrdiff_t>(from), ordered_.end());
}

}  // namespace matgto::cassette
