#include "server/cassette/secrets.h"

#include <re2/re2.h>

#include <algorithm>
#include <iterator>
#include <optional>

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

// One RE2 alternation of `forms` (Latin-1, so any bytes match), longest
// first and leftmost-longest, so that a secret containing another is
// replaced whole; null when there are none.
std::unique_ptr<const re2::RE2> Alternation(std::vector<std::string> forms) {
  if (forms.empty()) return nullptr;
  std::sort(forms.begin(), forms.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  std::vector<std::string> quoted;
  quoted.reserve(forms.size());
  for (const std::string& f : forms) quoted.push_back(re2::RE2::QuoteMeta(f));
  re2::RE2::Options options;
  options.set_encoding(re2::RE2::Options::EncodingLatin1);
  options.set_log_errors(false);
  options.set_longest_match(true);
  return std::make_unique<const re2::RE2>(absl::StrJoin(quoted, "|"), options);
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

// A small scrubber's forms and their alternations.
struct Scrubber::Regexes {
  std::vector<std::string> plain_forms;
  std::vector<std::string> encoded_forms;
  std::unique_ptr<const re2::RE2> plain;
  std::unique_ptr<const re2::RE2> encoded;
  // Whether both compiled (a form RE2 refuses leaves the index to search).
  bool ok() const {
    return (plain == nullptr || plain->ok()) &&
           (encoded == nullptr || encoded->ok());
  }
};

Scrubber::Scrubber() = default;
Scrubber::~Scrubber() = default;

Scrubber::Scrubber(const std::vector<std::string>& secrets) { Add(secrets); }

Scrubber::Scrubber(const Scrubber& base, const std::vector<std::string>& added)
    : regexes_(base.regexes_),
      needles_(base.needles_),
      visible_(base.visible_) {
  Add(added);
}

void Scrubber::Add(const std::vector<std::string>& secrets) {
  if (secrets.empty()) return;
  std::vector<std::string> plain;
  std::vector<std::string> encoded;
  for (const std::string& s : secrets) AddForms(s, plain, encoded);
  // Still small: alternations of every form so far.
  if (visible_ == 0 || regexes_ != nullptr) {
    auto small = std::make_shared<Regexes>();
    if (regexes_ != nullptr)
      *small = {regexes_->plain_forms, regexes_->encoded_forms, nullptr,
                nullptr};
    small->plain_forms.insert(small->plain_forms.end(), plain.begin(),
                              plain.end());
    small->encoded_forms.insert(small->encoded_forms.end(), encoded.begin(),
                                encoded.end());
    if (small->plain_forms.size() + small->encoded_forms.size() <=
        kRegexForms) {
      small->plain = Alternation(small->plain_forms);
      small->encoded = Alternation(small->encoded_forms);
    }
    regexes_ =
        small->plain != nullptr && small->ok() ? std::move(small) : nullptr;
  }
  if (needles_ != nullptr) {
    // Added to the index this one shares with the scrubber it was built
    // from, unless another was built from that one and added first (not
    // the way KnownSecrets grows, which adds to the newest only): the
    // needles it sees are then copied into an index of its own.
    if (std::optional<size_t> now =
            needles_->AddAfter(visible_, plain, encoded)) {
      visible_ = *now;
      return;
    }
    auto own = std::make_shared<Needles>();
    own->CopyFrom(*needles_, visible_);
    needles_ = std::move(own);
  } else {
    needles_ = std::make_shared<Needles>();
  }
  visible_ = *needles_->AddAfter(visible_, plain, encoded);
}

namespace {

// Replaces `matches` (in order, not overlapping) in `text`.
void ReplaceMatches(std::string& text,
                    const std::vector<Needles::Match>& matches,
                    absl::string_view replacement) {
  std::string out;
  size_t pos = 0;
  for (const Needles::Match& m : matches) {
    out.append(text, pos, m.start - pos);
    out.append(replacement.data(), replacement.size());
    pos = m.start + m.length;
  }
  out.append(text, pos, std::string::npos);
  text.swap(out);
}

}  // namespace

bool Scrubber::Scrub(std::string& text) const {
  if (text.empty() || visible_ == 0) return false;
  // Encoded forms first: they contain no raw secret, but a raw secret made
  // only of unreserved characters is its own encoding.
  if (regexes_ != nullptr) {
    bool changed = false;
    if (regexes_->encoded != nullptr) {
      changed |= re2::RE2::GlobalReplace(
                     &text, *regexes_->encoded,
                     re2::StringPiece(kRedactedEncoded.data(),
                                      kRedactedEncoded.size())) > 0;
    }
    changed |= re2::RE2::GlobalReplace(
                   &text, *regexes_->plain,
                   re2::StringPiece(kRedacted.data(), kRedacted.size())) > 0;
    return changed;
  }
  Needles::Found found = needles_->FindBoth(text, visible_);
  if (found.encoded.empty() && found.plain.empty()) return false;
  if (!found.encoded.empty()) {
    ReplaceMatches(text, found.encoded, kRedactedEncoded);
    // Where the plain forms are now.
    found.plain = needles_->Find(text, visible_, Needles::Kind::kPlain);
  }
  if (!found.plain.empty()) ReplaceMatches(text, found.plain, kRedacted);
  return true;
}

bool Scrubber::Finds(absl::string_view text) const {
  if (visible_ == 0) return false;
  if (regexes_ != nullptr) {
    const re2::StringPiece in(text.data(), text.size());
    return re2::RE2::PartialMatch(in, *regexes_->plain) ||
           (regexes_->encoded != nullptr &&
            re2::RE2::PartialMatch(in, *regexes_->encoded));
  }
  return needles_->Any(text, visible_);
}

void KnownSecrets::Add(const std::vector<std::string>& values) {
  if (values.empty()) return;  // what almost every exchange adds
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
  size_.store(ordered_.size(), std::memory_order_release);
}

std::shared_ptr<const Scrubber> KnownSecrets::scrubber() const {
  absl::MutexLock lock(&mu_);
  return scrubber_;
}

std::vector<std::string> KnownSecrets::Since(size_t from) const {
  absl::MutexLock lock(&mu_);
  if (from >= ordered_.size()) return {};
  return std::vector<std::string>(
      ordered_.begin() + static_cast<ptrdiff_t>(from), ordered_.end());
}

}  // namespace matgto::cassette
