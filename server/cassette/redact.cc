#include "server/cassette/redact.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace matgto::cassette {
namespace {

// "Bearer abc" -> "Bearer [REDACTED]"; a bare token -> "[REDACTED]".
std::string RedactCredentials(absl::string_view value) {
  absl::string_view v = absl::StripAsciiWhitespace(value);
  size_t space = v.find(' ');
  if (space != absl::string_view::npos && space > 0) {
    return absl::StrCat(v.substr(0, space), " ", kRedacted);
  }
  return std::string(kRedacted);
}

// "a=1; b=2" -> "a=[REDACTED]; b=[REDACTED]".
std::string RedactCookieHeader(absl::string_view value) {
  std::vector<std::string> parts;
  for (absl::string_view pair : absl::StrSplit(value, ';')) {
    absl::string_view p = absl::StripAsciiWhitespace(pair);
    if (p.empty()) continue;
    size_t eq = p.find('=');
    parts.push_back(eq == absl::string_view::npos
                        ? std::string(kRedacted)
                        : absl::StrCat(p.substr(0, eq + 1), kRedacted));
  }
  return absl::StrJoin(parts, "; ");
}

// "sid=abc; Path=/; HttpOnly" -> "sid=[REDACTED]; Path=/; HttpOnly".
std::string RedactSetCookie(absl::string_view value) {
  size_t semi = value.find(';');
  absl::string_view first = value.substr(0, semi);
  absl::string_view rest =
      semi == absl::string_view::npos ? absl::string_view() : value.substr(semi);
  size_t eq = first.find('=');
  if (eq == absl::string_view::npos) return absl::StrCat(kRedacted, rest);
  return absl::StrCat(first.substr(0, eq + 1), kRedacted, rest);
}

}  // namespace

RedactConfig RedactConfig::Defaults() {
  return RedactConfig{.headers = {"authorization", "proxy-authorization",
                                  "cookie", "set-cookie", "x-api-key",
                                  "api-key", "x-auth-token", "x-access-token",
                                  "x-amz-security-token", "x-goog-api-key",
                                  "x-csrf-token", "x-xsrf-token"}};
}

Redactor::Redactor(RedactConfig config) : config_(std::move(config)) {
  for (std::string& h : config_.headers) absl::AsciiStrToLower(&h);
}

void Redactor::RedactHeader(absl::string_view name, std::string& value) const {
  bool secret = false;
  for (const std::string& h : config_.headers) {
    if (core::EqualsIgnoreCase(h, name)) {
      secret = true;
      break;
    }
  }
  if (!secret) return;
  if (core::EqualsIgnoreCase(name, "cookie")) {
    value = RedactCookieHeader(value);
  } else if (core::EqualsIgnoreCase(name, "set-cookie")) {
    value = RedactSetCookie(value);
  } else if (core::EqualsIgnoreCase(name, "authorization") ||
             core::EqualsIgnoreCase(name, "proxy-authorization")) {
    value = RedactCredentials(value);
  } else {
    value = std::string(kRedacted);
  }
}

void Redactor::Redact(core::HttpRequest& request) const {
  for (core::Header& h : request.headers) RedactHeader(h.name, h.value);
}

void Redactor::Redact(core::HttpResponse& response) const {
  for (core::Header& h : response.headers) RedactHeader(h.name, h.value);
}

}  // namespace matgto::cassette
