#include "server/cassette/secrets.h"

#include <re2/re2.h>
#include <string.h>

#include <algorithm>
#include <iterator>

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
  // Leftmost-longest: across segments too (see ReplaceAll), a secret that
  // contains another is replaced whole.
  options.set_longest_match(true);
  return std::make_unique<re2::RE2>(absl::StrJoin(quoted, "|"), options);
}

// The forms of `s` that are replaced by "[REDACTED]" (`plain`) and by
// "%5BREDACTED%5D" (`encoded`).
void AddForms(const std::string& s, std::vector<std::string>& plain,
              std::vector<std::string>& encoded) {
  plain.push_back(s);
  if (std::string j = JsonEscaped(s); j != s) plain.push_back(std::move(j));
  for (bool lower : {false, true}) {
    for (bool form : {false, true}) {
      std::string e = PercentEncode(s, lower, form);
      if (e != s) encoded.push_back(std::move(e));
    }
  }
}

}  // namespace

std::vector<std::string> SecretForms(const std::vector<std::string>& secrets) {
  std::vector<std::string> forms;
  std::vector<std::string> encoded;
  for (const std::string& s : secrets) AddForms(s, forms, encoded);
  forms.insert(forms.end(), std::make_move_iterator(encoded.begin()),
               std::make_move_iterator(encoded.end()));
  std::sort(forms.begin(), forms.end());
  forms.erase(std::unique(forms.begin(), forms.end()), forms.end());
  return forms;
}

// Some secrets and their two alternations (Latin-1, so any bytes match).
struct Scrubber::Segment {
  explicit Segment(std::vector<std::string> values)
      : secrets(std::move(values)) {
    std::vector<std::string> plain_forms;
    std::vector<std::string> encoded_forms;
    for (const std::string& s : secrets) {
      AddForms(s, plain_forms, encoded_forms);
    }
    if (plain_forms.size() + encoded_forms.size() <= kSearchedForms) {
      forms = plain_forms;
      forms.insert(forms.end(), encoded_forms.begin(), encoded_forms.end());
    }
    plain = Alternation(std::move(plain_forms));
    encoded = Alternation(std::move(encoded_forms));
  }
  // Up to this many forms, Finds looks for each with memmem, which beats a
  // regex on text full of the secrets' first letters (a journal).
  static constexpr size_t kSearchedForms = 16;
  std::vector<std::string> secrets;
  // Every form, when there are few (else empty).
  std::vector<std::string> forms;
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

namespace {

// Replaces every match of any of `patterns` in `text` with `replacement`,
// leftmost first and, at the same place, the longest: as one alternation of
// all of them would. Returns whether `text` changed.
bool ReplaceAll(std::string& text, const std::vector<const re2::RE2*>& patterns,
                absl::string_view replacement) {
  const re2::StringPiece in(text);
  // Each pattern's next match at or after `pos` (empty data: none left).
  std::vector<re2::StringPiece> next(patterns.size());
  std::vector<bool> searched(patterns.size(), false);
  std::string out;
  size_t pos = 0;
  bool changed = false;
  for (;;) {
    size_t best = patterns.size();
    for (size_t i = 0; i < patterns.size(); ++i) {
      if (!searched[i] ||
          (next[i].data() != nullptr &&
           static_cast<size_t>(next[i].data() - in.data()) < pos)) {
        searched[i] = true;
        if (!patterns[i]->Match(in, pos, in.size(), re2::RE2::UNANCHORED,
                                &next[i], 1)) {
          next[i] = re2::StringPiece();
        }
      }
      if (next[i].data() == nullptr || next[i].empty()) continue;
      if (best == patterns.size() || next[i].data() < next[best].data() ||
          (next[i].data() == next[best].data() &&
           next[i].size() > next[best].size())) {
        best = i;
      }
    }
    if (best == patterns.size()) break;
    const size_t start = static_cast<size_t>(next[best].data() - in.data());
    out.append(text, pos, start - pos);
    out.append(replacement.data(), replacement.size());
    pos = start + next[best].size();
    changed = true;
  }
  if (!changed) return false;
  out.append(text, pos, std::string::npos);
  text.swap(out);
  return true;
}

}  // namespace

bool Scrubber::Scrub(std::string& text) const {
  if (text.empty() || segments_.empty()) return false;
  std::vector<const re2::RE2*> encoded;
  std::vector<const re2::RE2*> plain;
  for (const std::shared_ptr<const Segment>& segment : segments_) {
    if (segment->encoded != nullptr) encoded.push_back(segment->encoded.get());
    plain.push_back(segment->plain.get());
  }
  // Encoded forms first: they contain no raw secret, but a raw secret made
  // only of unreserved characters is its own encoding.
  bool changed = ReplaceAll(text, encoded, kRedactedEncoded);
  changed |= ReplaceAll(text, plain, kRedacted);
  return changed;
}

bool Scrubber::Finds(absl::string_view text) const {
  const re2::StringPiece in(text.data(), text.size());
  for (const std::shared_ptr<const Segment>& segment : segments_) {
    if (!segment->forms.empty()) {
      for (const std::string& form : segment->forms) {
        if (::memmem(text.data(), text.size(), form.data(), form.size()) !=
            nullptr) {
          return true;
        }
      }
      continue;
    }
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
  scrubber_ = std::make_shared<const Scrubber>(
      *scrubber_,
      std::vector<std::string>(ordered_.end() - static_cast<ptrdiff_t>(added),
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
