#include "server/cassette/redact.h"

#include <re2/re2.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/core/content_coding.h"
#include "server/core/url.h"

namespace matgto::cassette {
namespace {

namespace json = boost::json;

// The query/form form of the placeholder: "[REDACTED]" percent-encoded.
constexpr absl::string_view kRedactedEncoded = "%5BREDACTED%5D";

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
  absl::string_view rest = semi == absl::string_view::npos ? absl::string_view()
                                                           : value.substr(semi);
  size_t eq = first.find('=');
  if (eq == absl::string_view::npos) return absl::StrCat(kRedacted, rest);
  return absl::StrCat(first.substr(0, eq + 1), kRedacted, rest);
}

std::string PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      out += static_cast<char>(
          std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += (s[i] == '+' && plus_is_space) ? ' ' : s[i];
    }
  }
  return out;
}

// Replaces the values of `names` in "a=1&b=2" (names compared decoded).
bool RedactParams(std::string& encoded, const std::vector<std::string>& names,
                  bool plus_is_space) {
  if (names.empty() || encoded.empty()) return false;
  bool changed = false;
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(encoded, '&')) {
    size_t eq = part.find('=');
    const std::string name = PercentDecode(part.substr(0, eq), plus_is_space);
    if (eq != absl::string_view::npos &&
        std::find(names.begin(), names.end(), name) != names.end() &&
        part.substr(eq + 1) != kRedactedEncoded) {
      parts.push_back(absl::StrCat(part.substr(0, eq + 1), kRedactedEncoded));
      changed = true;
    } else {
      parts.emplace_back(part);
    }
  }
  if (changed) encoded = absl::StrJoin(parts, "&");
  return changed;
}

// Sets the value at an RFC 6901 pointer to "[REDACTED]" when it exists.
bool RedactPointer(json::value& root, absl::string_view pointer) {
  if (pointer.empty() || pointer.front() != '/') return false;
  json::value* node = &root;
  for (absl::string_view raw : absl::StrSplit(pointer.substr(1), '/')) {
    std::string token = absl::StrReplaceAll(raw, {{"~1", "/"}, {"~0", "~"}});
    if (auto* obj = node->if_object()) {
      auto it = obj->find(token);
      if (it == obj->end()) return false;
      node = &it->value();
    } else if (auto* arr = node->if_array()) {
      size_t idx = 0;
      if (!absl::SimpleAtoi(token, &idx) || idx >= arr->size()) return false;
      node = &(*arr)[idx];
    } else {
      return false;
    }
  }
  if (node->is_string() &&
      node->get_string() ==
          json::string_view(kRedacted.data(), kRedacted.size())) {
    return false;
  }
  *node = json::string(kRedacted.data(), kRedacted.size());
  return true;
}

bool IsForm(const core::Headers& headers) {
  const std::string* type = core::FindHeader(headers, "content-type");
  return type != nullptr &&
         absl::StrContains(absl::AsciiStrToLower(*type),
                           "application/x-www-form-urlencoded");
}

}  // namespace

RedactConfig RedactConfig::Defaults() {
  RedactConfig c;
  c.headers = {"authorization",  "proxy-authorization", "cookie",
               "set-cookie",     "x-api-key",           "api-key",
               "x-auth-token",   "x-access-token",      "x-amz-security-token",
               "x-goog-api-key", "x-csrf-token",        "x-xsrf-token"};
  return c;
}

Redactor::Redactor(RedactConfig config) : config_(std::move(config)) {
  for (std::string& h : config_.headers) absl::AsciiStrToLower(&h);
}

bool Redactor::ChangesUrlOrBody() const {
  return !config_.query_params.empty() || !config_.json_pointers.empty() ||
         !config_.form_fields.empty() || !config_.body_patterns.empty();
}

bool Redactor::IsSecretHeader(absl::string_view name) const {
  for (const std::string& h : config_.headers) {
    if (core::EqualsIgnoreCase(h, name)) return true;
  }
  return false;
}

void Redactor::RedactHeader(absl::string_view name, std::string& value) const {
  if (!IsSecretHeader(name)) return;
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

void Redactor::RedactBody(core::Headers& headers, std::string& body) const {
  if (body.empty() ||
      (config_.json_pointers.empty() && config_.form_fields.empty() &&
       config_.body_patterns.empty())) {
    return;
  }
  std::string text = core::DecodedBody(headers, body);
  bool changed = false;
  if (!config_.json_pointers.empty()) {
    boost::system::error_code ec;
    json::value doc =
        json::parse(json::string_view(text.data(), text.size()), ec);
    if (!ec) {
      bool any = false;
      for (const std::string& p : config_.json_pointers)
        any |= RedactPointer(doc, p);
      if (any) {
        text = json::serialize(doc);
        changed = true;
      }
    }
  }
  if (!config_.form_fields.empty() && IsForm(headers)) {
    changed |= RedactParams(text, config_.form_fields, true);
  }
  for (const auto& pattern : config_.body_patterns) {
    changed |= re2::RE2::GlobalReplace(
                   &text, *pattern,
                   re2::StringPiece(kRedacted.data(), kRedacted.size())) > 0;
  }
  if (!changed) return;
  body = std::move(text);
  // Stored decoded from now on, with a length that says so.
  core::RemoveHeaders(headers, "content-encoding");
  if (core::FindHeader(headers, "content-length") != nullptr) {
    core::SetHeader(headers, "Content-Length", std::to_string(body.size()));
  }
}

void Redactor::Redact(core::HttpRequest& request) const {
  for (core::Header& h : request.headers) RedactHeader(h.name, h.value);
  if (!config_.query_params.empty()) {
    absl::StatusOr<core::UrlParts> url = core::ParseAbsoluteUrl(request.url);
    if (url.ok() && url->has_query &&
        RedactParams(url->query, config_.query_params, false)) {
      request.url = core::FormatUrl(*url);
    }
  }
  RedactBody(request.headers, request.body);
}

void Redactor::Redact(core::HttpResponse& response) const {
  for (core::Header& h : response.headers) RedactHeader(h.name, h.value);
  RedactBody(response.headers, response.body);
}

}  // namespace matgto::cassette
