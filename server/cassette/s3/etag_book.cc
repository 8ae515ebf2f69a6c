#include "server/cassette/s3/etag_book.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace matgto::cassette::s3 {

void ETagBook::SawPresent(absl::string_view key, absl::string_view etag,
                          absl::Time at) {
  absl::MutexLock lock(&mu_);
  if (etag.empty()) {
    // A store that gives no ETag cannot be written conditionally.
    seen_.erase(std::string(key));
    return;
  }
  seen_[std::string(key)] =
      Seen{.kind = Kind::kPresent, .etag = std::string(etag), .at = at};
}

void ETagBook::SawAbsent(absl::string_view key, absl::Time at) {
  absl::MutexLock lock(&mu_);
  seen_[std::string(key)] = Seen{.kind = Kind::kAbsent, .etag = "", .at = at};
}

void ETagBook::Forget(absl::string_view key) {
  absl::MutexLock lock(&mu_);
  seen_.erase(std::string(key));
}

ETagBook::Seen ETagBook::Get(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = seen_.find(std::string(key));
  return it == seen_.end() ? Seen{} : it->second;
}

std::optional<std::pair<std::string, std::string>> ETagBook::SaveCondition(
    absl::string_view key) const {
  const Seen seen = Get(key);
  switch (seen.kind) {
    case Kind::kPresent:
      return std::make_pair(std::string("If-Match"), seen.etag);
    case Kind::kAbsent:
      return std::make_pair(std::string("If-None-Match"), std::string("*"));
    case Kind::kUnknown:
      break;
  }
  return std::nullopt;
}

std::string ETagBook::Serialize(const Seen& seen) {
  switch (seen.kind) {
    case Kind::kPresent:
      return absl::StrCat("etag ", seen.etag);
    case Kind::kAbsent:
      return "absent";
    case Kind::kUnknown:
      break;
  }
  return "unknown";
}

ETagBook::Seen ETagBook::Parse(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  if (line == "absent")
    return Seen{.kind = Kind::kAbsent, .etag = "", .at = absl::InfinitePast()};
  if (absl::ConsumePrefix(&line, "etag ") && !line.empty() &&
      !absl::StrContains(line, '\n')) {
    return Seen{.kind = Kind::kPresent,
                .etag = std::string(line),
                .at = absl::InfinitePast()};
  }
  return Seen{};
}

void ETagBook::Restore(absl::string_view key, const Seen& seen) {
  absl::MutexLock lock(&mu_);
  if (seen.kind == Kind::kUnknown) {
    seen_.erase(std::string(key));
  } else {
    seen_[std::string(key)] = seen;
  }
}

}  // namespace matgto::cassette::s3
